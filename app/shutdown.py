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

Which task cancels which: :meth:`ShutdownGate.guard` records the task that iterates a
stream (the response's). When the grace runs out, the gate cancels that task; the guard
catches the cancellation where it waits for the next event, withdraws it, lets the
stream's own cleanup cancel its producer, and sends the error event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import FrameType
from typing import TypeVar

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
        self._streams: set[asyncio.Task[object]] = set()

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
        for task in list(self._streams):
            task.cancel(msg="the shutdown grace ran out")

    async def guard(self, events: AsyncIterator[E]) -> AsyncIterator[E | ErrorEvent]:
        """Pass ``events`` through; once the grace has run out, end with ``shutting_down``."""
        task = asyncio.current_task()
        if task is not None:
            self._streams.add(task)
        source = aiter(events)
        try:
            while True:
                try:
                    event = await anext(source)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if not self.expired or task is None:
                        raise
                    task.uncancel()
                    yield ErrorEvent(
                        code="shutting_down",
                        message="The server is shutting down; ask again in a moment.",
                        retryable=True,
                    )
                    return
                yield event
        finally:
            if task is not None:
                self._streams.discard(task)


class DrainingServer(uvicorn.Server):
    """``uvicorn.Server`` whose shutdown signal starts the gate instead of cutting streams."""

    def __init__(self, config: uvicorn.Config, gate: ShutdownGate) -> None:
        super().__init__(config)
        self.gate = gate

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop accepting (uvicorn's own handler), then let streams drain."""
        sse.original_handler(self, sig, frame)
        self.gate.begin()
