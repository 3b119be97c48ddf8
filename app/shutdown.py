"""Graceful shutdown: streams in flight may finish for ``RAG_SHUTDOWN_GRACE_S``, then end.

On SIGTERM, uvicorn stops accepting connections at once, and :class:`ShutdownGate`
starts its clock. Streams that end within the grace end as usual. When it runs out,
each stream still open ends with one ``error`` event (``shutting_down``, retryable) and
its model request is cancelled; then uvicorn finishes, and ``serve`` stops the local
model server.

Departure from sse-starlette 1.x: it patches uvicorn's signal handler so that every SSE
stream stops dead at the first signal, with no event. :class:`DrainingServer` calls
uvicorn's own handler instead (the one sse-starlette keeps as ``original_handler``),
so the gate decides when streams end.

Which task cancels which: :meth:`ShutdownGate.guard` asks for each next event in a
task of its own and waits for it or for the end of the grace, whichever comes first.
When the grace ends first, the guard cancels that step (the stream's own cleanup then
cancels its producer and so the model request) and sends the error event. The
response's task is never cancelled by the gate: sse-starlette runs it in an anyio task
group, where a foreign cancellation, even withdrawn, left the response hanging until
uvicorn's backstop cut it. When the client leaves, the response's task is cancelled
as before, and the guard's ``finally`` cancels the step in flight.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from types import FrameType
from typing import Any, TypeVar

import uvicorn
from sse_starlette import sse

from chains.events import ErrorEvent

E = TypeVar("E")


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
        self.expired = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Future[Any]] = set()
        """One future per stream in flight, resolved when the grace runs out."""

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the loop the streams run on (the app's lifespan calls this)."""
        self._loop = loop

    def begin(self) -> None:
        """Start the grace clock; safe to call from a signal handler."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        assert self._loop is not None
        self._loop.call_later(self.grace_s, self._expire)

    def _expire(self) -> None:
        self.expired = True
        for waiter in list(self._waiters):  # each on its stream's own loop
            waiter.get_loop().call_soon_threadsafe(_resolve, waiter)

    async def guard(self, events: AsyncIterator[E]) -> AsyncIterator[E | ErrorEvent]:
        """Pass ``events`` through; once the grace has run out, end with ``shutting_down``."""
        expiry: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.add(expiry)
        source = aiter(events)
        step: asyncio.Future[Any] | None = None
        try:
            while not self.expired:
                step = asyncio.ensure_future(anext(source))
                await asyncio.wait({step, expiry}, return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    break  # the grace ran out while the stream waited for its next event
                try:
                    event = step.result()
                except StopAsyncIteration:
                    return
                yield event
            yield ErrorEvent(
                code="shutting_down",
                message="The server is shutting down; ask again in a moment.",
                retryable=True,
            )
        finally:
            self._waiters.discard(expiry)
            if step is not None and not step.done():
                step.cancel()  # the stream's own cleanup cancels its model request
                await asyncio.gather(step, return_exceptions=True)
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()


def _resolve(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class DrainingServer(uvicorn.Server):
    """``uvicorn.Server`` whose shutdown signal starts the gate instead of cutting streams."""

    def __init__(self, config: uvicorn.Config, gate: ShutdownGate) -> None:
        super().__init__(config)
        self.gate = gate

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop accepting (uvicorn's own handler), then let streams drain.

        uvicorn would raise the signal again once it has shut down, which kills the
        process before ``serve`` stops the model server; the drain is the signal's
        whole meaning here, so it is not raised again and ``serve`` exits with 0.
        """
        sse.original_handler(self, sig, frame)
        if sig == signal.SIGTERM:
            self._captured_signals.clear()
        self.gate.begin()
