"""The event runnable, driven by a deterministic fake chat model (the model is not under test)."""

import asyncio

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import ValidationError

from callbacks.event_stream import RagEventStream
from chains.chunking import InputDocument, build_splitter
from chains.ingest import Ingestor
from chains.rag import build_rag_chain
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store

pytestmark = pytest.mark.anyio


class StreamingFakeChat(GenericFakeChatModel):
    """Streams its scripted message word by word, as ChatOpenAI(streaming=True) would."""

    streaming: bool = True


class FailingChat(StreamingFakeChat):
    async def _astream(self, *args, **kwargs):
        yield_count = 0
        async for chunk in super()._astream(*args, **kwargs):
            yield chunk
            yield_count += 1
            if yield_count == 3:
                raise ConnectionResetError("model died")


class CountingChat(StreamingFakeChat):
    """Counts how many deltas the model has produced, to see backpressure reach it."""

    produced: int = 0

    async def _astream(self, *args, **kwargs):
        async for chunk in super()._astream(*args, **kwargs):
            type(self).produced += 1
            yield chunk


@pytest.fixture
def retriever(tmp_path, embeddings, index_all):
    store = build_vector_store(build_chroma_client(path=tmp_path / "c"), "events", embeddings)
    docs = [
        InputDocument(id="sse", content="Server-sent events stream lines over HTTP."),
        InputDocument(id="hnsw", content="HNSW makes nearest neighbour search fast."),
        InputDocument(id="ttft", content="Time to first token is the wait for the first word."),
    ]
    index_all(Ingestor(store, build_splitter()), docs)
    return ScoredRetriever(vectorstore=store)


def events_for(llm, retriever, *, maxsize=64, **request):
    stream = RagEventStream(build_rag_chain(retriever, llm), maxsize=maxsize)

    async def collect():
        return [e async for e in stream.astream({"question": "What is SSE?", "k": 2, **request})]

    return collect()


def chat(text: str) -> StreamingFakeChat:
    return StreamingFakeChat(messages=iter([AIMessage(content=text)]), streaming=True)


async def test_events_follow_protocol_order_and_carry_the_model_text(retriever):
    text = "SSE streams text [doc-001] and [doc-007]."
    events = await events_for(chat(text), retriever)
    types = [e.type for e in events]
    assert types[:5] == ["status", "source", "source", "status", "ttft"]
    assert types[-1] == "done"
    first_token = types.index("token")
    assert all(t in ("token", "citation") for t in types[first_token:-1])
    done = events[-1]
    assert "".join(e.content for e in events if e.type == "token") == text
    citations = [(e.cite, e.valid) for e in events if e.type == "citation"]
    assert citations == [("doc-001", True), ("doc-007", False)]
    assert done.cited == ["doc-001"] and done.uncited == ["doc-002"]
    assert done.invalid_citations == ["doc-007"]
    metrics = done.metrics
    assert metrics.token_count == types.count("token") > 1
    assert 0 < metrics.ttfs_ms <= metrics.ttft_ms <= metrics.total_ms
    assert metrics.retrieval_ms > 0


async def test_citation_event_follows_the_token_that_completed_it(retriever):
    events = await events_for(chat("Fact [doc-002] end"), retriever)
    stream = [(e.type, getattr(e, "content", None) or getattr(e, "cite", None)) for e in events]
    index = stream.index(("citation", "doc-002"))
    assert stream[index - 1] == ("token", "[doc-002]")


async def test_ainvoke_returns_the_done_event_with_the_model_text(retriever):
    stream = RagEventStream(build_rag_chain(retriever, chat("Only this.")), maxsize=8)
    done = await stream.ainvoke({"question": "What is SSE?", "k": 1})
    assert done.type == "done" and done.answer == "Only this."


async def test_stream_sources_false_sends_no_source_events(retriever):
    events = await events_for(chat("Answer."), retriever, stream_sources=False)
    assert "source" not in [e.type for e in events]
    assert events[-1].type == "done"


async def test_model_failure_mid_stream_ends_with_one_error_event_after_sources(retriever):
    llm = FailingChat(messages=iter([AIMessage(content="one two three four five")]), streaming=True)
    events = await events_for(llm, retriever)
    types = [e.type for e in events]
    assert types.count("error") == 1 and types[-1] == "error"
    assert types.index("source") < types.index("token") < types.index("error")
    assert events[-1].code == "internal" and "died" not in events[-1].message


async def test_failure_outside_the_chain_still_ends_with_one_error_event(retriever, monkeypatch):
    """The guarantee lives in astream, so /rag/events gets it as well as /rag/sse."""

    def broken_tracker(*args, **kwargs):
        raise RuntimeError("tracker exploded")

    monkeypatch.setattr("callbacks.event_stream.CitationTracker", broken_tracker)
    events = await events_for(chat("Some answer."), retriever)
    types = [e.type for e in events]
    assert types[-1] == "error" and types.count("error") == 1 and "done" not in types
    assert "source" in types and "exploded" not in events[-1].message


async def test_invalid_request_raises_before_any_event(retriever):
    with pytest.raises(ValidationError, match="question"):
        await events_for(chat("Answer."), retriever, question=" ")


async def test_full_queue_makes_the_model_wait_and_drops_nothing(retriever):
    CountingChat.produced = 0
    words = [f"w{i}" for i in range(300)]
    llm = CountingChat(messages=iter([AIMessage(content=" ".join(words))]), streaming=True)
    stream = RagEventStream(build_rag_chain(retriever, llm), maxsize=2)
    events = aiter(stream.astream({"question": "q", "k": 1}))
    received = []
    while len([e for e in received if e.type == "token"]) < 10:
        received.append(await anext(events))
    await asyncio.sleep(0.2)  # a stalled client: the producer must stall too
    # Ten tokens taken, two in the queue, one blocked on put, one the parser holds.
    assert CountingChat.produced <= 10 + 2 + 2
    received += [event async for event in events]
    tokens = "".join(e.content for e in received if e.type == "token")
    assert tokens.split() == words
    assert received[-1].type == "done"


async def test_stopping_the_consumer_cancels_the_producer(retriever):
    words = " ".join(f"w{i}" for i in range(2000))
    llm = StreamingFakeChat(messages=iter([AIMessage(content=words)]), streaming=True)
    stream = RagEventStream(build_rag_chain(retriever, llm), maxsize=4)
    before = len(asyncio.all_tasks())
    agen = stream.astream({"question": "q", "k": 1})
    async for event in agen:
        if event.type == "token":
            break
    await agen.aclose()
    # The chain's inner tasks finish a few loop turns after the producer itself.
    for _ in range(100):
        if len(asyncio.all_tasks()) == before:
            break
        await asyncio.sleep(0.01)
    assert len(asyncio.all_tasks()) == before
