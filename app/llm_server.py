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

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from app.model_file import engine_binary
from app.settings import LOCAL_MODEL_ALIAS
from chains.errors import LocalModelServerError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None]:
    """Return a pre-exec hook that asks Linux to SIGTERM the child when we exit."""
    libc = ctypes.CDLL(None, use_errno=True)

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


class LocalModelServer:
    """A ``llama-server`` child process on a loopback port.

    Example:
        >>> model = local_model_file("Q4_0", Path("./data/models"))
        >>> with LocalModelServer(model_path=model, port=8081, slots=4) as server:
        ...     print(server.base_url)  # http://127.0.0.1:8081/v1

    """

    def __init__(
        self,
        *,
        model_path: Path,
        port: int = 8081,
        threads: int = 2,
        slots: int = 4,
        ctx_per_slot: int = 2048,
        log_path: Path | None = None,
    ) -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be in 1..65535, got {port}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        if not model_path.is_file():
            raise LocalModelServerError(f"model file not found: {model_path}")
        self.model_path = model_path
        self.port = port
        self.threads = threads
        self.slots = slots
        self.ctx_per_slot = ctx_per_slot
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.load_seconds: float | None = None

    @property
    def url(self) -> str:
        """The server's root URL (``/health``, ``/props``, ``/slots`` live here)."""
        return f"http://127.0.0.1:{self.port}"

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
        ]

    def start(self, timeout_s: float = 120.0) -> None:
        """Launch the server and block until its ``/health`` says the model is loaded."""
        if self.process is not None:
            raise LocalModelServerError("the local model server is already running")
        if _answers(self.url):
            raise LocalModelServerError(f"port {self.port} is already serving; stop that first")
        started = time.monotonic()
        # The child keeps its own copy of the log descriptor; ours closes at once.
        with open(self.log_path or os.devnull, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=log, preexec_fn=_die_with_parent()
            )
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise LocalModelServerError(
                    f"llama-server exited with code {code} while loading"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            if _answers(self.url):
                self.load_seconds = time.monotonic() - started
                return
            time.sleep(0.1)
        self.stop()
        raise LocalModelServerError(f"llama-server did not answer within {timeout_s:.0f} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the server, escalating to SIGKILL if it does not exit in time."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _answers(url: str) -> bool:
    """Whether a server at ``url`` is up with its model loaded (``/health`` is 200)."""
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
