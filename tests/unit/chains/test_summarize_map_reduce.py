"""Map-reduce mechanics of the summarizer, driven by a fake chat model.

The fake is not under test: it answers "summary of part N" after a delay and records
how many calls run at once and how many were cancelled. The real model's summaries are
tested over HTTP (tests/http/test_summarize.py).
"""

import asyncio
import re
from pathlib import Path

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, ValidationError

from chains.summarize import StreamingSummarizer, SummaryRequest

pytestmark = pytest.mark.anyio

GPL = Path("/usr/share/common-licenses/GPL-3").read_text()


class RecordingChat(BaseChatModel):
    """Summarizes by naming the part; counts calls in flight and cancellations."""

    delay: float = 0.02
    fail_on_part: int | None = None
    running: int = 0
    most_at_once: int = 0
    cancelled: int = 0
    prompts: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        raise NotImplementedError

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        prompt = messages[-1].content
        self.prompts.append(prompt)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1
        part = re.search(r"Part (\d+) of", prompt)
        if part and self.fail_on_part == int(part.group(1)):
            raise ConnectionResetError("model died")
        text = f"summary of part {part.group(1)}." if part else "the whole summary."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs):
        result = await self._agenerate(messages, stop, run_manager, **kwargs)
        for word in result.generations[0].message.content.split(" "):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


def summarizer(llm, **kwargs):
    return StreamingSummarizer(llm, lookup=lambda doc_id, kb: None, **kwargs)


async def collect(stream):
    return [event async for event in stream]


def test_summary_request_takes_exactly_one_of_content_and_doc_id():
    assert SummaryRequest(content="text").doc_id == ""
    assert SummaryRequest(doc_id="d1").content == ""
    for body in ({}, {"content": "  "}, {"content": "text", "doc_id": "d1"}):
        with pytest.raises(ValidationError, match="either a non-empty content or a doc_id"):
            SummaryRequest.model_validate(body)
    with pytest.raises(ValidationError, match="at most 500000"):
        SummaryRequest(content="x" * 500_001)


def test_parts_overlap_so_every_sentence_is_whole_in_some_part():
    parts = summarizer(RecordingChat()).splitter.split_text(GPL)
    assert len(parts) > 10
    sentences = [s.strip() for s in re.split(r"(?<=\.)\s+", GPL) if 20 < len(s.strip()) < 200]
    assert len(sentences) > 100
    missing = [s for s in sentences if not any(s in part for part in parts)]
    assert missing == []


async def test_parts_run_at_most_concurrency_at_once_and_each_is_reported():
    llm = RecordingChat()
    events = await collect(summarizer(llm, concurrency=2).astream({"content": GPL, "title": "GPL"}))
    types = [e.type for e in events]
    start, done = events[0], events[-1]
    assert types[0] == "summary_start" and types[-1] == "summary_done"
    chunks = [e for e in events if e.type == "summary_chunk"]
    assert sorted(c.chunk_index for c in chunks) == list(range(start.total_chunks))
    assert [c.progress for c in chunks] == sorted(c.progress for c in chunks)
    assert chunks[-1].progress == 100 and chunks[0].progress < 100
    assert all(c.partial_summary == f"summary of part {c.chunk_index + 1}." for c in chunks)
    assert llm.most_at_once == 2
    assert types.index("token") > types.index("summary_chunk")
    assert done.final_summary == "the whole summary."
    assert done.metrics.first_token_ms > 0 and done.metrics.token_count == 3


async def test_part_summaries_too_long_for_one_prompt_are_collapsed_first():
    llm = RecordingChat()
    stream = summarizer(llm, part_chars=400, reduce_chars=400)
    events = await collect(stream.astream({"content": GPL[:8000]}))
    total = events[0].total_chunks
    done = events[-1]
    assert done.type == "summary_done" and done.metrics.model_calls > total + 1
    final_prompt = llm.prompts[-1]
    assert final_prompt.startswith("Document: untitled\nSummaries of its parts:")
    assert len(final_prompt.split("parts:\n\n", 1)[1]) <= 400


async def test_closing_the_stream_early_cancels_the_parts_still_running():
    llm = RecordingChat(delay=5)
    stream = summarizer(llm, concurrency=3).astream({"content": GPL})
    assert (await anext(stream)).type == "summary_start"
    first = asyncio.ensure_future(anext(stream))  # waits on the first part
    await asyncio.sleep(0.2)
    assert llm.running == 3
    first.cancel()  # the consumer is gone, as on a client disconnect
    await asyncio.gather(first, return_exceptions=True)
    await stream.aclose()
    assert llm.running == 0 and llm.cancelled == 3


async def test_a_part_that_fails_ends_the_stream_with_one_error():
    llm = RecordingChat(fail_on_part=2)
    events = await collect(summarizer(llm).astream({"content": GPL}))
    assert events[0].type == "summary_start"
    assert [e.type for e in events].count("error") == 1 and events[-1].type == "error"
    assert events[-1].code == "internal" and "model died" not in events[-1].message


async def test_unknown_doc_id_is_an_error_event_on_the_stream():
    events = await collect(summarizer(RecordingChat()).astream({"doc_id": "nope"}))
    assert [e.type for e in events] == ["error"]
    assert events[0].code == "not_found" and "'nope'" in events[0].message
