"""Resumable answer streams: a reconnect with ``Last-Event-ID`` gets what it missed.

With ``RAG_RESUME_GRACE_S`` above 0, an answer no longer runs inside its HTTP response.
A pump task iterates the typed event stream and appends each event to a per-stream
buffer; every response, the first and each resume, reads that buffer from a position
on, then follows it live. Event ids are ``<stream>-<n>``, ``n`` rising from 1, so the
``Last-Event-ID`` a browser's ``EventSource`` sends by itself after a drop (or a
``POST`` client's ``GET /rag/sse`` with that header) says which stream and where.

- **Buffers** (:mod:`app.streams.buffers`): in the worker by default, in Redis with
  ``RAG_REDIS_URL``, so a reconnect that reaches another worker resumes too. A buffer
  holds at most ``RAG_RESUME_BUFFER_EVENTS`` events (a whole answer at the default
  limits) and expires ``RAG_RESUME_TTL_S`` after its last event.
- **Grace.** Readers mark the stream as watched once per third of the grace. When
  nobody has for ``RAG_RESUME_GRACE_S``, the pump is cancelled (which cancels the model
  request) and the buffer ends with an ``error`` event (``abandoned``). A client that
  stops on purpose (the page's Stop) says so with ``DELETE /rag/sse/<stream>``, which
  cancels at once instead.
- **Backpressure.** The event queue's consumer is the pump, which appends as fast as
  events come, so a slow client reads from the buffer instead of slowing the model; the
  buffer's bound caps what it costs. With ``RAG_RESUME_GRACE_S=0`` none of this runs:
  the queue drains straight into the response and a disconnect cancels at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette.sse import ServerSentEvent

from app.streams.buffers import BufferUnavailableError, Entry, StreamBuffer, UnknownStreamError
from callbacks import RagEventStream, StreamRequest
from chains.events import ErrorEvent

_log = logging.getLogger("streaming_rag.resume")

FINAL_TYPES = frozenset({"done", "error"})
"""The event types that end an answer stream."""


def parse_event_id(value: str) -> tuple[str, int]:
    """Split ``<stream>-<n>`` into the stream id and the number.

    Raises:
        UnknownStreamError: the id is not one this service sent.

    """
    stream_id, _, number = value.strip().rpartition("-")
    if not stream_id or not number.isdigit():
        raise UnknownStreamError(f"Last-Event-ID {value[:80]!r} is not an id this service sent")
    return stream_id, int(number)


def _check_owner(stream_id: str, owner: str) -> None:
    """Refuse a stream someone else started exactly as an unknown one."""
    if stream_id.partition(".")[0] != owner:
        raise UnknownStreamError(f"no stream {stream_id!r}")


class ResumableStreams:
    """Start answers as pumps into a buffer, and read them from any position.

    Example:
        >>> streams = ResumableStreams(event_stream, MemoryBuffer(...), grace_s=5)
        >>> stream_id = await streams.start(request, owner="anonymous")
        >>> async for sse in await streams.read(stream_id, after=0, owner="anonymous"):
        ...     print(sse.id)  # f"{stream_id}-1", ...

    """

    def __init__(self, stream: RagEventStream, buffer: StreamBuffer, *, grace_s: float) -> None:
        if grace_s <= 0:
            raise ValueError(f"grace_s must be positive (0: no resumable streams), got {grace_s}")
        self.stream, self.buffer, self.grace_s = stream, buffer, grace_s
        self._local: dict[str, asyncio.Task[None]] = {}
        """The pumps running in this worker, by stream id."""
        self._readers: Counter[str] = Counter()
        """How many clients of this worker are reading each stream right now."""

    @property
    def _check_s(self) -> float:
        """How often readers mark, and the pump checks, that someone watches."""
        return self.grace_s / 3

    async def start(self, request: StreamRequest, *, owner: str) -> str:
        """Start answering ``request`` in the background; returns the new stream's id.

        The id is ``<owner>.<random>``: it binds the stream to the caller that started
        it, in every worker, with nothing more to store.
        """
        stream_id = f"{owner}.{secrets.token_hex(8)}"
        first = asyncio.Event()
        pump = asyncio.create_task(self._pump(stream_id, request, first))
        self._local[stream_id] = pump
        pump.add_done_callback(lambda _: self._local.pop(stream_id, None))
        await first.wait()  # the buffer exists before anyone reads it
        return stream_id

    async def read(
        self, stream_id: str, after: int = 0, *, owner: str
    ) -> AsyncIterator[ServerSentEvent]:
        """The events after ``after``, buffered then live, until the stream's last one.

        Raises:
            UnknownStreamError: no buffer holds the stream (checked before the first
                event), or ``owner`` did not start it.
            ResumeGapError: events after ``after`` are no longer buffered.

        """
        _check_owner(stream_id, owner)
        await self.buffer.touch(stream_id)
        entries = await self.buffer.after(stream_id, after, 0)
        return self._follow(stream_id, after, entries)

    async def cancel(self, stream_id: str, *, owner: str) -> None:
        """Stop the answer now: a client that pressed Stop will not resume it.

        The pump stops at once when it runs in this worker, else at its next check.

        Raises:
            UnknownStreamError: no buffer holds the stream, or ``owner`` did not start it.

        """
        _check_owner(stream_id, owner)
        await self.buffer.cancel(stream_id)
        if (pump := self._local.get(stream_id)) is not None:
            pump.cancel()

    async def _follow(
        self, stream_id: str, after: int, entries: list[Entry]
    ) -> AsyncIterator[ServerSentEvent]:
        """Yield ``entries``, then wait for more, until the stream's last event.

        The stream is marked watched once per check period (:meth:`read` marked it
        first): a wait lasts at most one more, so a mark is never older than two thirds
        of the grace, and a live answer does not cost a write per batch of events. That
        holds only while the event loop keeps time, so a reader is also counted in
        :attr:`_readers`, for the pump's watchdog when both run in this worker.
        """
        self._readers[stream_id] += 1
        touched = time.monotonic()
        try:
            while True:
                for number, event_type, data in entries:
                    yield ServerSentEvent(id=f"{stream_id}-{number}", event=event_type, data=data)
                    after = number
                    if event_type in FINAL_TYPES:
                        return
                try:
                    if time.monotonic() - touched >= self._check_s:
                        await self.buffer.touch(stream_id)
                        touched = time.monotonic()
                    entries = await self.buffer.after(stream_id, after, self._check_s)
                except BufferUnavailableError as exc:  # end with the error, not a silent cut
                    lost = ErrorEvent(
                        code="resume_buffer_unavailable", message=str(exc), retryable=True
                    )
                    yield ServerSentEvent(
                        id=f"{stream_id}-{after + 1}", event="error", data=lost.model_dump_json()
                    )
                    return
        finally:
            self._readers[stream_id] -= 1
            if not self._readers[stream_id]:
                del self._readers[stream_id]

    async def _pump(self, stream_id: str, request: StreamRequest, first: asyncio.Event) -> None:
        """Append every event of the answer; stop it when nobody watches for the grace."""
        number = 0
        watchdog = asyncio.create_task(self._watch(stream_id, asyncio.current_task()))
        try:
            async for event in self.stream.astream(request):
                number += 1
                await self.buffer.append(stream_id, (number, event.type, event.model_dump_json()))
                first.set()
        except asyncio.CancelledError:
            abandoned = ErrorEvent(
                code="abandoned",
                message=f"Nobody read this answer for {self.grace_s:g} s, so it was stopped.",
                retryable=True,
            )
            with contextlib.suppress(BufferUnavailableError):
                entry = (number + 1, "error", abandoned.model_dump_json())
                await self.buffer.append(stream_id, entry)
            raise
        finally:
            first.set()
            watchdog.cancel()

    async def _watch(self, stream_id: str, pump: asyncio.Task[Any] | None) -> None:
        """Cancel ``pump`` once no reader has marked the stream for the grace.

        A reader of this worker marks the stream here, before the check: on a loaded
        event loop its own marks can come later than the grace (200 answers and 20
        ingestions at once stopped an answer being read, ``tests/http/test_load.py``).
        A buffer that does not answer counts as unwatched: nobody can resume from it.
        The cancel is repeated every check until the pump has ended, because one can be
        lost in a client library (redis-py has swallowed ``CancelledError`` before), and
        a pump nobody reads keeps the model busy for nobody.
        """
        while True:
            await asyncio.sleep(self._check_s)
            try:
                if self._readers[stream_id]:
                    await self.buffer.touch(stream_id)
                if not await self.buffer.watched(stream_id):
                    break
            except BufferUnavailableError:
                break
        while pump is not None and not pump.done():
            pump.cancel()
            await asyncio.wait([pump], timeout=self._check_s)
            if not pump.done():
                _log.warning("stream %s: the pump outlived its cancel; cancelling again", stream_id)

    async def aclose(self) -> None:
        """Stop every pump still running (the app is shutting down) and the buffer."""
        pumps = list(self._local.values())
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        await self.buffer.aclose()
