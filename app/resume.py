"""Resumable answer streams: a reconnect with ``Last-Event-ID`` gets what it missed.

With ``RAG_RESUME_GRACE_S`` above 0, an answer no longer runs inside its HTTP response.
A pump task iterates the typed event stream and appends each event to a per-stream
buffer; every response, the first and each resume, reads that buffer from a position
on, then follows it live. Event ids are ``<stream>-<n>``, ``n`` rising from 1, so the
``Last-Event-ID`` a browser's ``EventSource`` sends by itself after a drop (or a
``POST`` client's ``GET /rag/sse`` with that header) says which stream and where.

- **Buffers.** :class:`MemoryBuffer` in the worker by default; :class:`RedisBuffer` with
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
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from sse_starlette.sse import ServerSentEvent

from callbacks import RagEventStream, StreamRequest
from chains.errors import StreamingRagError
from chains.events import ErrorEvent

_log = logging.getLogger("streaming_rag.resume")

FINAL_TYPES = frozenset({"done", "error"})
"""The event types that end an answer stream."""

Entry = tuple[int, str, str]
"""One buffered event: its number, type and JSON payload."""


class UnknownStreamError(StreamingRagError):
    """No buffer holds this stream: it never existed here, or it expired."""


class ResumeGapError(StreamingRagError):
    """The events after the client's position are no longer all in the buffer."""


class BufferUnavailableError(StreamingRagError):
    """The resume buffer (Redis) does not answer."""


@contextlib.contextmanager
def _redis_reachable() -> Iterator[None]:
    """Turn a Redis failure into :class:`BufferUnavailableError`, said plainly."""
    import redis

    try:
        yield
    except redis.RedisError as exc:
        raise BufferUnavailableError(
            "The resume buffer (Redis at RAG_REDIS_URL) does not answer."
        ) from exc


class StreamBuffer(Protocol):
    """Where a stream's events wait for their readers."""

    async def append(self, stream_id: str, entry: Entry) -> None:
        """Add the next event; the stream expires ``ttl`` after its last one."""

    async def after(self, stream_id: str, number: int, timeout_s: float) -> list[Entry]:
        """The events after ``number``, waiting up to ``timeout_s`` for one to come."""

    async def touch(self, stream_id: str) -> None:
        """Mark the stream as watched, for one grace period."""

    async def watched(self, stream_id: str) -> bool:
        """Whether a reader marked the stream within the grace, and nobody cancelled it."""

    async def cancel(self, stream_id: str) -> None:
        """Mark the stream as no longer wanted: its pump stops at the next check."""

    async def ping(self) -> bool:
        """Whether the buffer can take events (readiness)."""

    async def aclose(self) -> None:
        """Release connections."""


def parse_event_id(value: str) -> tuple[str, int]:
    """Split ``<stream>-<n>`` into the stream id and the number.

    Raises:
        UnknownStreamError: the id is not one this service sent.

    """
    stream_id, _, number = value.strip().rpartition("-")
    if not stream_id or not number.isdigit():
        raise UnknownStreamError(f"Last-Event-ID {value[:80]!r} is not an id this service sent")
    return stream_id, int(number)


@dataclass
class _Stream:
    """One stream in memory: its newest events, in order, and who waits for more."""

    entries: list[Entry] = field(default_factory=list)
    watched_until: float = 0.0
    cancelled: bool = False
    grew: asyncio.Event = field(default_factory=asyncio.Event)
    expiry: asyncio.TimerHandle | None = None


class MemoryBuffer:
    """Buffers in this worker: a resume must reach the worker that started the stream."""

    def __init__(self, *, max_events: int, ttl_s: float, grace_s: float) -> None:
        self.max_events, self.ttl_s, self.grace_s = max_events, ttl_s, grace_s
        self._streams: dict[str, _Stream] = {}

    async def append(self, stream_id: str, entry: Entry) -> None:
        """Add ``entry``, drop the oldest past the bound, and wake the readers."""
        stream = self._streams.setdefault(stream_id, _Stream())
        stream.entries.append(entry)
        if len(stream.entries) > self.max_events:
            del stream.entries[0]
        stream.grew.set()
        stream.grew = asyncio.Event()
        if stream.expiry is not None:
            stream.expiry.cancel()
        stream.expiry = asyncio.get_running_loop().call_later(
            self.ttl_s, self._streams.pop, stream_id, None
        )

    async def after(self, stream_id: str, number: int, timeout_s: float) -> list[Entry]:
        """The events after ``number``; raises if the stream is unknown or has a gap."""
        stream = self._get(stream_id)
        first = stream.entries[0][0]  # a stream exists from its first event on
        if number + 1 < first:
            raise ResumeGapError(f"events {number + 1}..{first - 1} are gone")
        if stream.entries[-1][0] <= number:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stream.grew.wait(), timeout_s)
        entries = self._get(stream_id).entries
        return entries[number + 1 - entries[0][0] :]

    async def touch(self, stream_id: str) -> None:
        """The stream is watched for one more grace period."""
        self._get(stream_id).watched_until = time.monotonic() + self.grace_s

    async def watched(self, stream_id: str) -> bool:
        """Whether a reader touched the stream within the grace."""
        stream = self._streams.get(stream_id)
        return (
            stream is not None and not stream.cancelled and time.monotonic() < stream.watched_until
        )

    async def cancel(self, stream_id: str) -> None:
        """No reader wants it any more."""
        self._get(stream_id).cancelled = True

    async def ping(self) -> bool:
        """Memory is always there."""
        return True

    async def aclose(self) -> None:
        """Nothing to release."""

    def _get(self, stream_id: str) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise UnknownStreamError(f"no stream {stream_id!r} here")
        return stream


class RedisBuffer:
    """Buffers in Redis streams, shared by every worker that has the same ``RAG_REDIS_URL``.

    A stream's events are the Redis stream ``streaming-rag:stream:<id>`` with entry ids
    ``0-<n>``, so ``XREAD`` from ``0-<n>`` returns exactly the events after ``n``; the key
    ``...:<id>:watched`` expires one grace after a reader last set it.
    """

    def __init__(self, url: str, *, max_events: int, ttl_s: float, grace_s: float) -> None:
        import redis.asyncio

        self.redis = redis.asyncio.Redis.from_url(url, decode_responses=True)
        self.max_events, self.ttl_s, self.grace_s = max_events, ttl_s, grace_s

    async def append(self, stream_id: str, entry: Entry) -> None:
        """``XADD`` with the event's number as its id, capped, and refresh the expiry."""
        with _redis_reachable():
            number, event_type, data = entry
            key = _key(stream_id)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xadd(
                    key,
                    {"type": event_type, "data": data},
                    id=f"0-{number}",
                    maxlen=self.max_events,
                    approximate=False,
                )
                pipe.expire(key, max(1, round(self.ttl_s)))
                await pipe.execute()

    async def after(self, stream_id: str, number: int, timeout_s: float) -> list[Entry]:
        """``XREAD BLOCK`` from ``0-<number>``; raises if the stream is unknown or has a gap."""
        with _redis_reachable():
            key = _key(stream_id)
            block_ms = max(1, int(timeout_s * 1000))
            found: Any = await self.redis.xread({key: f"0-{number}"}, block=block_ms)
            entries = [
                (int(entry_id.split("-")[1]), fields["type"], fields["data"])
                for _, batch in found or []
                for entry_id, fields in batch
            ]
            # Checked from XREAD's answer, so following a live stream costs one call.
            if entries and entries[0][0] > number + 1:
                raise ResumeGapError(f"events {number + 1}..{entries[0][0] - 1} are gone")
            if not entries and not await self.redis.exists(key):
                raise UnknownStreamError(f"no stream {stream_id!r} in Redis")
            return entries

    async def touch(self, stream_id: str) -> None:
        """Set the watched key for one grace."""
        with _redis_reachable():
            await self.redis.set(
                f"{_key(stream_id)}:watched", 1, px=max(1, int(self.grace_s * 1000))
            )

    async def watched(self, stream_id: str) -> bool:
        """Whether the watched key is still there, and no cancelled key."""
        with _redis_reachable():
            key = _key(stream_id)
            watched, cancelled = await self.redis.mget(f"{key}:watched", f"{key}:cancelled")
            return watched is not None and cancelled is None

    async def cancel(self, stream_id: str) -> None:
        """Set the cancelled key (for as long as the stream's events are kept)."""
        with _redis_reachable():
            key = _key(stream_id)
            if not await self.redis.exists(key):
                raise UnknownStreamError(f"no stream {stream_id!r} in Redis")
            await self.redis.set(f"{key}:cancelled", 1, ex=max(1, round(self.ttl_s)))

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(await self.redis.ping())
        except Exception:  # any failure means no stream can be buffered
            return False

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()


def _key(stream_id: str) -> str:
    return f"streaming-rag:stream:{stream_id}"


class ResumableStreams:
    """Start answers as pumps into a buffer, and read them from any position.

    Example:
        >>> streams = ResumableStreams(event_stream, MemoryBuffer(...), grace_s=5)
        >>> stream_id = streams.start(request)
        >>> async for sse in streams.read(stream_id, after=0):
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

    async def start(self, request: StreamRequest) -> str:
        """Start answering ``request`` in the background; returns the new stream's id."""
        stream_id = secrets.token_hex(8)
        first = asyncio.Event()
        pump = asyncio.create_task(self._pump(stream_id, request, first))
        self._local[stream_id] = pump
        pump.add_done_callback(lambda _: self._local.pop(stream_id, None))
        await first.wait()  # the buffer exists before anyone reads it
        return stream_id

    async def read(self, stream_id: str, after: int = 0) -> AsyncIterator[ServerSentEvent]:
        """The events after ``after``, buffered then live, until the stream's last one.

        Raises:
            UnknownStreamError: no buffer holds the stream (checked before the first event).
            ResumeGapError: events after ``after`` are no longer buffered.

        """
        await self.buffer.touch(stream_id)
        entries = await self.buffer.after(stream_id, after, 0)
        return self._follow(stream_id, after, entries)

    async def cancel(self, stream_id: str) -> None:
        """Stop the answer now: a client that pressed Stop will not resume it.

        The pump stops at once when it runs in this worker, else at its next check.

        Raises:
            UnknownStreamError: no buffer holds the stream.

        """
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
