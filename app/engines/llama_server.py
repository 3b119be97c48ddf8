"""Start and stop the local OpenAI-compatible model server: llama.cpp's own ``llama-server``.

It replaces ``llama_cpp.server``, which serves one request at a time behind a lock (three
questions sent together got their first tokens at 1.6 s, 6.2 s and 11.0 s). ``llama-server``
decodes several requests at once: ``slots`` parallel sequences with continuous batching,
so a new question starts while others stream. Its prompt cache is on, so a request
reuses the state of the fixed instructions that open every RAG prompt.

Departures from ``llama-server`` defaults, for this project's 2-core machines:

- ``--threads``/``--threads-batch`` 2 (the default is every core, the same here; set
  explicitly so the figures in ``bench/`` are reproducible elsewhere).
- ``--ctx-size`` is ``ctx_per_slot * slots``: llama.cpp splits the context among slots.
- ``--flash-attn on``: prompt processing of the bundled model rose from ~640 to ~840
  tokens/s (Q4_0, ~300-token prompt, measured side by side 2026-11-25), which is most of
  the first-token time; generation speed was unchanged (~105-113 tokens/s).
- ``--no-webui``: the API only.
- ``--metrics``: llama-server's Prometheus counters at ``/metrics`` (``n_decode_total``,
  ``requests_processing``...), so a test can see at the model server whether a request
  was made or is still running.

The engine is compiled from source at install without llama.cpp's AMX path, which these
VMs report but crash in (see the Makefile). The child process gets ``PR_SET_PDEATHSIG``
so it dies with its parent, even on SIGKILL.
"""

from __future__ import annotations

from pathlib import Path

from app.engines.child_server import ChildServer
from app.engines.model_file import engine_binary
from app.settings import LOCAL_MODEL_ALIAS
from chains.errors import LocalModelServerError


class LocalModelServer(ChildServer):
    """A ``llama-server`` child process on a loopback port; ``embeddings`` adds that API.

    Example:
        >>> model = local_model_file("Q4_0", Path("./data/models"))
        >>> with LocalModelServer(model_path=model, port=8081, slots=4) as server:
        ...     print(server.base_url)  # http://127.0.0.1:8081/v1

    """

    name = "llama-server"
    error = LocalModelServerError

    def __init__(
        self,
        *,
        model_path: Path,
        port: int = 8081,
        threads: int = 2,
        slots: int = 4,
        ctx_per_slot: int = 2048,
        log_path: Path | None = None,
        embeddings: bool = False,
    ) -> None:
        super().__init__(port=port, log_path=log_path)
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        if not model_path.is_file():
            raise LocalModelServerError(f"model file not found: {model_path}")
        self.model_path = model_path
        self.threads = threads
        self.slots = slots
        self.ctx_per_slot = ctx_per_slot
        self.embeddings = embeddings

    @property
    def ready_url(self) -> str:
        """``/health`` answers 200 once the model is loaded."""
        return f"{self.url}/health"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (ends in ``/v1``)."""
        return f"{self.url}/v1"

    def command(self) -> list[str]:
        """The argv that launches the server."""
        threads = str(self.threads)
        return [
            str(engine_binary("llama-server")),
            "--model",
            str(self.model_path),
            "--alias",
            LOCAL_MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--threads",
            threads,
            "--threads-batch",
            threads,
            "--parallel",
            str(self.slots),
            "--ctx-size",
            str(self.ctx_per_slot * self.slots),
            "--cont-batching",
            "--flash-attn",
            "on",
            "--no-webui",
            "--metrics",
            # /v1/embeddings too, mean-pooled: an OpenAI-compatible embeddings endpoint.
            *(["--embeddings", "--pooling", "mean"] if self.embeddings else []),
        ]
