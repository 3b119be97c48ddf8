import asyncio
import uuid

import pytest
from langchain_core.documents import Document

from callbacks.queue_handler import QueueCallbackHandler

pytestmark = pytest.mark.anyio

RUN = uuid.uuid4()


def docs():
    return [
        Document(
            id="a:0",
            page_content="alpha",
            metadata={"doc_id": "a", "cite": "doc-001", "score": 0.9, "source": "a.md"},
        ),
        Document(
            id="b:0", page_content="beta", metadata={"doc_id": "b", "cite": "doc-002", "score": 0.4}
        ),
    ]


async def drain(queue):
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


async def test_handler_turns_retrieved_documents_into_source_events_in_rank_order():
    queue = asyncio.Queue(maxsize=8)
    handler = QueueCallbackHandler(queue)
    await handler.on_retriever_start({}, "q", run_id=RUN)
    await handler.on_retriever_end(docs(), run_id=RUN)
    sources = await drain(queue)
    assert [(s.type, s.index, s.cite, s.id, s.doc_id) for s in sources] == [
        ("source", 0, "doc-001", "a:0", "a"),
        ("source", 1, "doc-002", "b:0", "b"),
    ]
    assert sources[0].metadata == {"doc_id": "a", "source": "a.md"}
    assert handler.retrieval_ms is not None and handler.retrieval_ms >= 0


async def test_handler_without_stream_sources_keeps_sources_but_queues_none():
    queue = asyncio.Queue(maxsize=8)
    handler = QueueCallbackHandler(queue, stream_sources=False)
    await handler.on_retriever_end(docs(), run_id=RUN)
    assert queue.empty() and [s.cite for s in handler.sources] == ["doc-001", "doc-002"]


async def test_handler_queues_non_empty_tokens_and_joins_content_blocks():
    queue = asyncio.Queue(maxsize=8)
    handler = QueueCallbackHandler(queue)
    for token in ["Hel", "", "lo", [{"type": "text", "text": " there"}, {"type": "tool_use"}]]:
        await handler.on_llm_new_token(token, run_id=RUN)
    assert [t.content for t in await drain(queue)] == ["Hel", "lo", " there"]


async def test_handler_reports_one_error_however_many_chains_fail():
    queue = asyncio.Queue(maxsize=8)
    handler = QueueCallbackHandler(queue)
    error = ConnectionError("boom")
    await handler.on_llm_error(error, run_id=RUN)
    await handler.on_chain_error(error, run_id=RUN)
    await handler.on_retriever_error(error, run_id=RUN)
    events = await drain(queue)
    assert [e.type for e in events] == ["error"]
    assert "boom" not in events[0].message


async def test_handler_waits_on_a_full_queue_instead_of_dropping():
    queue = asyncio.Queue(maxsize=1)
    handler = QueueCallbackHandler(queue)
    await handler.on_llm_new_token("one", run_id=RUN)
    blocked = asyncio.create_task(handler.on_llm_new_token("two", run_id=RUN))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    assert queue.get_nowait().content == "one"
    await asyncio.wait_for(blocked, 1)
    assert queue.get_nowait().content == "two"


def test_handler_refuses_an_unbounded_queue():
    with pytest.raises(ValueError, match="bounded"):
        QueueCallbackHandler(asyncio.Queue())
