"""Where a resumable stream's events wait for their readers: in the worker, or in Redis.

:class:`MemoryBuffer` serves one worker (a resume must reach the worker that started
the stream); :class:`RedisBuffer` is shared by every worker with the same
``RAG_REDIS_URL``. Both hold at most ``max_events`` events per stream, expire a stream
``ttl_s`` after its last event, and remember for one ``grace_s`` that a reader watched
it. :class:`~app.streams.resume.ResumableStreams` writes and reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from chains.errors import StreamingRagError

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
