"""Files are parsed in a child process, each under a wall-clock, CPU-time and memory limit.

A PDF or an HTML page is text that strangers wrote, read by parsers that have had
denial-of-service bugs (pypdf fixed several in 2025 and 2026). Parsed in the process
that answers, one file built to exhaust its parser would stall every answer or take
the process's memory. Here each file is read by its own child, forked from
multiprocessing's fork server, which imported the loaders once: a child starts in a few
milliseconds and holds none of the parent's threads. The child caps its own address
space and CPU time with ``setrlimit``; the parent waits at most the wall-clock limit,
then kills it. A file that hits a limit fails alone, with a reason that names the
limit; the other documents, and every answer, carry on.

Example:
    >>> parser = IsolatedParser(ParseLimits(timeout_s=10, cpu_s=5, memory_mb=256))
    >>> doc = load_upload("notes.md", b"# Notes", read=parser.read)

"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
import types
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from chains.errors import DocumentError, UnreadableFileError, UnsupportedFileError
from chains.events import MetadataValue
from chains.loaders import read_file

_FORK_SERVER = multiprocessing.get_context("forkserver")
_FORK_SERVER.set_forkserver_preload(["chains.loaders", "bs4"])  # bs4: BSHTMLLoader imports it late
_STARTING = threading.Lock()

_ERRORS: dict[str, type[DocumentError]] = {
    error.__name__: error for error in (UnsupportedFileError, UnreadableFileError)
}


@dataclass(frozen=True)
class ParseLimits:
    """What one file's parse may use (``RAG_PARSE_TIMEOUT_S``, ``_CPU_S``, ``_MEMORY_MB``)."""

    timeout_s: float = 30.0
    """Wall-clock seconds from the child's start to its answer."""
    cpu_s: int = 20
    """CPU seconds the child may use."""
    memory_mb: int = 512
    """Memory the parse may take beyond what the child starts with (its loaders)."""


class IsolatedParser:
    """Runs :func:`chains.loaders.read_file` in a child process under :class:`ParseLimits`.

    :meth:`read` is a :data:`chains.loaders.Reader`, so ``load_file(path, parser.read)``
    and ``load_upload(name, data, parser.read)`` parse in isolation. It blocks until the
    child answers or is killed: callers run it in a thread, as the ingestor does.
    """

    def __init__(self, limits: ParseLimits | None = None) -> None:
        self.limits = limits or ParseLimits()

    def start(self) -> None:
        """Start the fork server now and wait for its imports, so no file waits for them."""
        child = _FORK_SERVER.Process(target=_ready, daemon=True)
        _start_without_main(child)
        child.join()

    def read(self, path: Path) -> tuple[str, dict[str, MetadataValue]]:
        """``read_file(path)`` in a child: its text and metadata, or its error.

        Raises:
            UnsupportedFileError: the suffix has no loader.
            UnreadableFileError: the loader failed, or the parse hit a limit (the
                message names the limit and its setting).

        """
        receiver, sender = _FORK_SERVER.Pipe(duplex=False)
        child = _FORK_SERVER.Process(
            target=_read_in_child, args=(sender, str(path), self.limits), daemon=True
        )
        started = time.monotonic()
        _start_without_main(child)
        sender.close()  # the child holds the only writer: its death ends the pipe
        try:
            if not receiver.poll(self.limits.timeout_s):
                raise UnreadableFileError(
                    f"{path.name} took longer than {self.limits.timeout_s:g} s to read "
                    "(RAG_PARSE_TIMEOUT_S); reading it was stopped"
                )
            answer = receiver.recv()
        except EOFError:  # the child died without a word: a limit, or the parser crashed
            child.join()
            elapsed = time.monotonic() - started
            raise UnreadableFileError(self._why_died(path, child.exitcode, elapsed)) from None
        finally:
            receiver.close()
            if child.is_alive():
                child.kill()
            child.join()
        return self._result(path, answer)

    def _result(
        self, path: Path, answer: tuple[str, ...] | tuple[str, str, dict[str, MetadataValue]]
    ) -> tuple[str, dict[str, MetadataValue]]:
        """The child's answer as the text it read, or the error it raised."""
        match answer:
            case ("ok", str(content), dict(metadata)):
                return content, metadata
            case ("memory",):
                raise UnreadableFileError(
                    f"{path.name} needs more than {self.limits.memory_mb} MB of memory to "
                    "read (RAG_PARSE_MEMORY_MB); reading it was stopped"
                )
            case (str(kind), str(message)) if kind in _ERRORS:
                raise _ERRORS[kind](message)
        raise UnreadableFileError(f"{path.name} could not be loaded as {path.suffix.lower()}")

    def _why_died(self, path: Path, exitcode: int | None, elapsed_s: float) -> str:
        """Why a child ended without answering, from how it ended and when.

        Past the CPU limit the kernel sends SIGXCPU, then SIGKILL one second later. A
        SIGKILL before the child can have used its CPU seconds (the parse is one thread)
        came from elsewhere: the system's out-of-memory killer, or an operator.
        """
        cpu_limit = exitcode == -signal.SIGXCPU or (
            exitcode == -signal.SIGKILL and elapsed_s >= self.limits.cpu_s
        )
        if cpu_limit:
            return (
                f"{path.name} needs more than {self.limits.cpu_s} s of CPU to read "
                "(RAG_PARSE_CPU_S); reading it was stopped"
            )
        if exitcode == -signal.SIGKILL:
            return (
                f"the parser of {path.name} was killed after {elapsed_s:.1f} s, before its "
                "CPU limit: out of memory (the system's OOM killer), or stopped by hand"
            )
        return f"{path.name} made its parser crash (exit code {exitcode})"


def _start_without_main(child: BaseProcess) -> None:
    """Start ``child`` without the parent's ``__main__``.

    multiprocessing has each child (and the fork server) import the parent's main script
    first: ``streaming-rag``'s imports the whole CLI, torch included, which made every
    file cost 0.4-1 s instead of ~12 ms (bench section 20). A parser needs none of it, so
    the main module is hidden while the child is started; the lock keeps two threads
    from hiding it at once.
    """
    with _STARTING:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            child.start()
        finally:
            sys.modules["__main__"] = main


def _ready() -> None:
    """A child that only proves the fork server is up."""


def _read_in_child(sender: Connection, path: str, limits: ParseLimits) -> None:
    """The child: limit itself, read the file, send back the text or the error's name."""
    _limit_self(limits)
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a bad PDF is said once, as its error
    answer: tuple[object, ...]
    try:
        answer = ("ok", *read_file(Path(path)))
    except MemoryError:
        answer = ("memory",)
    except DocumentError as exc:
        answer = (type(exc).__name__, str(exc))
    except Exception:  # said as "could not be loaded" by the parent; the cause stays here
        answer = ("failed",)
    if answer == ("memory",):  # free what the parse held (a parse tree's cycles) to say so
        gc.collect()
    sender.send(answer)
    sender.close()


def _limit_self(limits: ParseLimits) -> None:
    """Cap this process's CPU time, and its address space at its own size plus the limit.

    The address space is what ``RLIMIT_AS`` can bound on Linux; the child starts with the
    fork server's (Python and the loaders), so the limit is counted from there.
    """
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
    with open("/proc/self/statm") as statm:
        address_space = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    ceiling = address_space + limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
