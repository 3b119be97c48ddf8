"""A server we run as a child process on a loopback port: the model engine, Chroma.

It starts, waits until its readiness URL answers 200, and stops (SIGTERM, then SIGKILL).
The child gets ``PR_SET_PDEATHSIG`` so it dies with its parent, even on SIGKILL.
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

from chains.errors import StreamingRagError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None]:
    """Return a pre-exec hook that asks Linux to SIGTERM the child when we exit."""
    libc = ctypes.CDLL(None, use_errno=True)

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


class ChildServer:
    """Base of the servers we launch; a subclass gives its ``command`` and readiness URL."""

    name = "server"
    error: type[StreamingRagError] = StreamingRagError

    def __init__(self, *, port: int, log_path: Path | None = None) -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be in 1..65535, got {port}")
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.load_seconds: float | None = None

    @property
    def url(self) -> str:
        """The server's root URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ready_url(self) -> str:
        """A URL that answers 200 once the server can take requests."""
        raise NotImplementedError

    def command(self) -> list[str]:
        """The argv that launches the server."""
        raise NotImplementedError

    def answers(self) -> bool:
        """Whether a server on our port is up and ready."""
        try:
            return httpx.get(self.ready_url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout_s: float = 120.0) -> None:
        """Launch the server and block until it is ready."""
        if self.process is not None:
            raise self.error(f"the {self.name} is already running")
        if self.answers():
            raise self.error(f"port {self.port} is already serving; stop that first")
        started = time.monotonic()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The child keeps its own copy of the log descriptor; ours closes at once.
        with open(self.log_path or os.devnull, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=log, preexec_fn=_die_with_parent()
            )
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise self.error(
                    f"the {self.name} exited with code {code} while starting"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            if self.answers():
                self.load_seconds = time.monotonic() - started
                return
            time.sleep(0.1)
        self.stop()
        raise self.error(f"the {self.name} did not answer within {timeout_s:.0f} s")

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
