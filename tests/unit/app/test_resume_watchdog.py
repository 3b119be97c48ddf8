"""The resume watchdog stops an answer nobody reads, even when a cancel gets lost."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.streams.buffers import MemoryBuffer
from app.streams.resume import ResumableStreams
from chains.events import TokenEvent

pytestmark = pytest.mark.anyio

GRACE_S = 0.3


class SwallowsOneCancel:
    """An event stream that loses the first cancel it gets, as a client library can."""

    def __init__(self) -> None:
        self.cancels_seen = 0
        self.stopped = asyncio.Event()

    async def astream(self, request: Any) -> AsyncIterator[TokenEvent]:
        try:
            while True:
                try:
                    await asyncio.sleep(0.01)
                except asyncio.CancelledError:
                    self.cancels_seen += 1
                    if self.cancels_seen > 1:
                        raise
                    asyncio.current_task().uncancel()  # lost, as redis-py once did
                yield TokenEvent(content="x")
        finally:
            self.stopped.set()


async def test_watchdog_cancels_again_when_the_first_cancel_is_lost():
    stream = SwallowsOneCancel()
    buffer = MemoryBuffer(max_events=100_000, ttl_s=60, grace_s=GRACE_S)
    streams = ResumableStreams(stream, buffer, grace_s=GRACE_S)  # type: ignore[arg-type]

    stream_id = await streams.start({"question": "unread"}, owner="anonymous")  # type: ignore[arg-type]
    await asyncio.wait_for(stream.stopped.wait(), timeout=10 * GRACE_S)

    assert stream.cancels_seen == 2
    entries = await buffer.after(stream_id, 0, 0)
    assert entries[-1][1] == "error" and '"abandoned"' in entries[-1][2]
    assert not streams._local, "the pump is still running"
