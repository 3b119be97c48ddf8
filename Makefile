# The commands the README names. `make run` and `make test` each install what they need.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-test run test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, pinned: on this machine kind pip takes the CPU wheel from /opt/wheels;
# letting a dependency pull torch would bring the CUDA build and its nvidia-* packages.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e .
	@if $(PIP) list 2>/dev/null | grep -i '^nvidia-'; then \
		echo "error: a CUDA package was installed; torch must be the CPU build" >&2; exit 1; fi
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -e ".[test]"
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(PIP) install -e ".[test,bench]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(VENV)/bin/streaming-rag serve

test: install-test
	$(VENV)/bin/ruff check app chains callbacks tests examples bench notebooks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

lint: install-test
	$(VENV)/bin/ruff check app chains callbacks tests examples bench notebooks
	$(VENV)/bin/mypy

# About 10 minutes; writes bench/report.md and the charts next to it.
bench: $(VENV)/.installed-bench
	$(PY) -m bench

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache .mypy_cache
