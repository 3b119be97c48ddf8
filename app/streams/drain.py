"""Graceful shutdown: streams in flight may finish for ``RAG_SHUTDOWN_GRACE_S``, then end.

On SIGTERM, uvicorn stops accepting connections at once, and :class:`ShutdownGate`
starts its clock. Streams that end within the grace end as usual. When it runs out,
each stream still open ends with one ``error`` event (``shutting_down``, retryable) and
its model request is cancelled; then uvicorn finishes, and ``serve`` stops the local
model server.

Departure from sse-starlette 1.x: at import it patches ``uvicorn.Server.handle_exit`` so
that every SSE stream stops dead at the first signal, with no event. Importing this
module patches it once more, the same way (sse-starlette's own approach, so it reaches
the servers uvicorn builds in each ``--workers`` process too): :func:`_drain_on_exit`
calls uvicorn's own handler (the one sse-starlette keeps as ``original_handler``) and
starts the clock of every gate in the process, so the gates decide when streams end.

Which task cancels which: nothing is cancelled by the gate. :meth:`ShutdownGate.guard`
looks at the clock as each event arrives; after the grace it closes the stream (whose
own cleanup cancels its producer, and so the model request) and sends the error event.
An answer streams tokens many times a second, so it ends within a token of the grace. A
stream that sends nothing at all after the grace (waiting for a busy model's first
token) is cut by uvicorn's backstop, five seconds later, without the event. (Cancelling
the response's task instead left some responses hanging under sse-starlette's anyio
task group; running streams in a pump task of their own kept a stream alive after its
client left while the response was mid-send.)
"""

from __future__ import annotations

import signal
import time
import weakref
from collections.abc import AsyncIterator
from types import FrameType
from typing import TypeVar

import uvicorn
from sse_starlette import sse

from chains.events import ErrorEvent

E = TypeVar("E")

_GATES: weakref.WeakSet[ShutdownGate] = weakref.WeakSet()
"""Every gate of this process; a shutdown signal starts them all."""


class ShutdownGate:
    """The grace clock of one app; :meth:`guard` every stream it should drain.

    Example:
        >>> gate = ShutdownGate(grace_s=10)
        >>> async for event in gate.guard(stream.astream(request)):
        ...     yield event

    """

    def __init__(self, grace_s: float) -> None:
        if grace_s < 0:
            raise ValueError(f"grace_s must not be negative, got {grace_s}")
        self.grace_s = grace_s
        self._deadline: float | None = None
        _GATES.add(self)

    def begin(self) -> None:
        """Start the grace clock; safe in a signal handler (it only stores a time)."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.grace_s

    @property
    def expired(self) -> bool:
        """Whether the grace has run out (never, before :meth:`begin`)."""
        return self._deadline is not None and time.monotonic() >= self._deadline

    async def guard(self, events: AsyncIterator[E]) -> AsyncIterator[E | ErrorEvent]:
        """Pass ``events`` through; once the grace has run out, end with ``shutting_down``."""
        async for event in events:
            if self.expired:
                break  # ``break`` does not close ``events``; the ``aclose`` below does
            yield event
        else:
            return
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()  # the stream's own cleanup cancels its producer and model request
        yield ErrorEvent(
            code="shutting_down",
            message="The server is shutting down; ask again in a moment.",
            retryable=True,
        )


def _drain_on_exit(server: uvicorn.Server, sig: int, frame: FrameType | None) -> None:
    """Stop accepting (uvicorn's own handler), then let streams drain.

    uvicorn would raise the signal again once it has shut down, which kills the
    process before ``serve`` stops the model server; the drain is the signal's
    whole meaning here, so it is not raised again and ``serve`` exits with 0.
    """
    sse.original_handler(server, sig, frame)
    if sig == signal.SIGTERM:
        server._captured_signals.clear()
    for gate in list(_GATES):
        gate.begin()


uvicorn.Server.handle_exit = _drain_on_exit  # type: ignore[method-assign,assignment]
