"""Streaming map-reduce summary of one long document, written by the real model.

**Map.** The document is split with LangChain's ``RecursiveCharacterTextSplitter``
(:data:`PART_CHARS` per part, :data:`PART_OVERLAP_CHARS` of overlap, so a sentence cut at
a boundary is whole in one of the two parts) and every part is summarized on its own,
``concurrency`` at a time: the engine's parallel slots. Each finished part is a
``summary_chunk`` event, in the order they finish, with ``progress`` the share done.

**Collapse.** While the part summaries together are longer than :data:`REDUCE_CHARS`
(what one prompt holds with room for the answer, in a 2,048-token context), neighbours
are grouped under that length and each group is summarized again. So a document of any
length fits, and nothing is truncated.

**Reduce.** One last prompt turns the part summaries, in document order, into the final
summary, streamed as ``token`` events; ``summary_done`` closes the stream.

Departure from the chat model's settings: the summary prompts add a frequency penalty
(:data:`FREQUENCY_PENALTY`), since a small model otherwise loops on one sentence.

The error guarantee is the event stream's: a request that does not validate raises
before the first event; after it, any failure is exactly one ``error`` event. When the
consumer goes away, the generator is closed and cancels every part still running,
which closes their model requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Self

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig
from langchain_text_splitters import RecursiveCharacterTextSplitter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chains.chunking import content_doc_id
from chains.errors import DocumentNotFoundError, error_event_for
from chains.event_runnable import EventRunnable
from chains.events import TokenEvent
from chains.knowledge_bases import KbName
from chains.summary_events import (
    SummaryChunkEvent,
    SummaryDoneEvent,
    SummaryEvent,
    SummaryMetrics,
    SummaryStartEvent,
)

PART_CHARS = 2400
"""About 600 tokens: a part, its instructions and its summary fit a 2,048-token slot."""
PART_OVERLAP_CHARS = 200
REDUCE_CHARS = 4800
"""Part summaries longer than this together are collapsed before the final summary."""
PART_MAX_TOKENS = 120
SUMMARY_MAX_TOKENS = 256
FREQUENCY_PENALTY = 1.0
"""OpenAI's standard penalty on repeated tokens, for the summary prompts only: without it
the bundled 135M model repeats one sentence until the token limit (on 6 GPL parts,
distinct sentences per summary 53% without, 97% with; measured 2026-12-01)."""
MAX_SUMMARY_INPUT_CHARS = 500_000
"""Longest document accepted inline (about 210 parts); longer is a 422."""

PART_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You summarize one part of a longer document. Write two or three sentences "
            "with its main points, using only what the text says.",
        ),
        ("human", "Document: {title}\nPart {number} of {total}:\n\n{text}"),
    ]
)
SUMMARY_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You write the summary of a whole document from the summaries of its parts, "
            "given in order. Write one short paragraph, using only what they say.",
        ),
        ("human", "Document: {title}\nSummaries of its parts:\n\n{text}"),
    ]
)


class SummaryRequest(BaseModel):
    """A document to summarize: ``content`` inline, or the ``doc_id`` of an indexed one.

    Empty strings stand for "not given" (the LangServe playground rejects null defaults).
    """

    model_config = ConfigDict(extra="forbid")

    content: str = Field("", max_length=MAX_SUMMARY_INPUT_CHARS, description="The text.")
    title: str = Field("", max_length=300, description="Shown to the model; optional.")
    doc_id: str = Field("", max_length=256, description="An indexed document instead.")
    kb: KbName = ""

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Self:
        if bool(self.content.strip()) == bool(self.doc_id):
            raise ValueError("give either a non-empty content or a doc_id, not both")
        return self


@dataclass(frozen=True)
class SummarySource:
    """The text to summarize, resolved from a request (whitespace at its edges dropped)."""

    document_id: str
    title: str
    text: str


class StreamingSummarizer(EventRunnable[SummaryEvent]):
    """Summarize one document, streaming its progress and the summary's tokens.

    Example:
        >>> summarizer = StreamingSummarizer(llm, lookup=lambda doc_id, kb: None, concurrency=4)
        >>> async for event in summarizer.astream({"content": long_text, "title": "GPL"}):
        ...     print(event.type)  # summary_start, summary_chunk..., token..., summary_done

    """

    def __init__(
        self,
        llm: BaseChatModel,
        *,
        lookup: Callable[[str, str], str | None],
        concurrency: int = 4,
        part_chars: int = PART_CHARS,
        reduce_chars: int = REDUCE_CHARS,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if reduce_chars < part_chars:
            raise ValueError(f"reduce_chars ({reduce_chars}) must hold a part ({part_chars})")
        self.lookup = lookup
        self.concurrency = concurrency
        self.reduce_chars = reduce_chars
        self.splitter = RecursiveCharacterTextSplitter(
            chunk_size=part_chars, chunk_overlap=min(PART_OVERLAP_CHARS, part_chars // 4)
        )
        parser = StrOutputParser()
        penalty = {"frequency_penalty": FREQUENCY_PENALTY}
        self.part_chain = PART_PROMPT | llm.bind(max_tokens=PART_MAX_TOKENS, **penalty) | parser
        self.summary_chain = (
            SUMMARY_PROMPT | llm.bind(max_tokens=SUMMARY_MAX_TOKENS, **penalty) | parser
        )
        self.name = "summarize"

    @property
    def InputType(self) -> type[SummaryRequest]:
        """The request model, so LangServe's schema and playground show it."""
        return SummaryRequest

    @property
    def OutputType(self) -> Any:
        """Each streamed item is one typed event."""
        return SummaryEvent

    async def resolve(self, request: SummaryRequest) -> SummarySource:
        """The text a request names; an unknown ``doc_id`` raises DocumentNotFoundError."""
        if not request.doc_id:
            document_id = content_doc_id(request.content)  # its id if it were indexed
            return SummarySource(document_id, request.title, request.content.strip())
        text = await asyncio.to_thread(self.lookup, request.doc_id, request.kb)
        if text is None:
            where = f" in the knowledge base {request.kb!r}" if request.kb else ""
            raise DocumentNotFoundError(
                f"no indexed document has the id {request.doc_id!r}{where}"
            )
        return SummarySource(request.doc_id, request.title, text.strip())

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[SummaryEvent]:
        """Yield the summary's events; a failure after the first is one ``error`` event.

        Raises:
            pydantic.ValidationError: ``input`` is not a valid request (before any event).

        """
        request = SummaryRequest.model_validate(input)
        try:
            source = await self.resolve(request)
        except Exception as exc:  # an unknown id, or the store failed
            yield error_event_for(exc)
            return
        async for event in self.summarize(source, config):
            yield event

    async def summarize(
        self, source: SummarySource, config: RunnableConfig | None = None
    ) -> AsyncIterator[SummaryEvent]:
        """The events of a resolved document; any failure is one last ``error`` event.

        ``/summarize/sse`` resolves first (to answer 404 before the stream) and streams
        this, so the document is read from the store once.
        """
        try:
            async for event in self._events(source, config):
                yield event
        except Exception as exc:  # the stream has started
            yield error_event_for(exc)

    async def _events(
        self, source: SummarySource, config: RunnableConfig | None
    ) -> AsyncIterator[SummaryEvent]:
        started = time.perf_counter()
        parts = self.splitter.split_text(source.text)
        title = source.title or "untitled"
        yield SummaryStartEvent(
            document_id=source.document_id,
            title=source.title,
            total_chunks=len(parts),
            total_chars=len(source.text),
        )
        summaries: list[str] = [""] * len(parts)
        async with aclosing(self._summarize_all(parts, title, config)) as finishing:
            done = 0
            async for index, summary in finishing:
                done += 1
                summaries[index] = summary
                yield SummaryChunkEvent(
                    chunk_index=index,
                    progress=round(100 * done / len(parts)),
                    partial_summary=summary,
                )
        calls = len(parts)
        while len(summaries) > 1 and len("\n\n".join(summaries)) > self.reduce_chars:
            groups = self._groups(summaries)
            async with aclosing(self._summarize_all(groups, title, config)) as finishing:
                summaries = [summary for _, summary in sorted([pair async for pair in finishing])]
            calls += len(groups)
        tokens: list[str] = []
        first_token: float | None = None
        text = "\n\n".join(summaries)
        async for delta in self.summary_chain.astream({"title": title, "text": text}, config):
            if delta:
                first_token = first_token or time.perf_counter()
                tokens.append(delta)
                yield TokenEvent(content=delta)
        yield SummaryDoneEvent(
            final_summary="".join(tokens).strip(),
            metrics=_metrics(started, first_token, len(tokens), calls + 1),
        )

    def _groups(self, summaries: Sequence[str]) -> list[str]:
        """Neighbouring summaries joined into groups of at most ``reduce_chars``."""
        groups: list[list[str]] = [[]]
        for summary in summaries:
            if groups[-1] and len("\n\n".join([*groups[-1], summary])) > self.reduce_chars:
                groups.append([])
            groups[-1].append(summary)
        return ["\n\n".join(group) for group in groups]

    async def _summarize_all(
        self, texts: Sequence[str], title: str, config: RunnableConfig | None
    ) -> AsyncGenerator[tuple[int, str], None]:
        """Summarize every text, ``concurrency`` at once; yield (index, summary) as each ends.

        Closing the iterator early cancels the summaries still running.
        """
        gate = asyncio.Semaphore(self.concurrency)

        async def one(index: int) -> tuple[int, str]:
            async with gate:
                prompt = {"title": title, "number": index + 1, "total": len(texts)}
                summary = await self.part_chain.ainvoke({**prompt, "text": texts[index]}, config)
                return index, summary.strip()

        tasks = [asyncio.create_task(one(i)) for i in range(len(texts))]
        try:
            for finished in asyncio.as_completed(tasks):
                yield await finished
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _metrics(started: float, first_token: float | None, tokens: int, calls: int) -> SummaryMetrics:
    """Totals for ``summary_done``; tokens/s runs from the first to the last token."""
    now = time.perf_counter()
    rate = None
    if first_token is not None and tokens > 1 and now > first_token:
        rate = round((tokens - 1) / (now - first_token), 1)
    return SummaryMetrics(
        first_token_ms=None if first_token is None else round((first_token - started) * 1000, 2),
        total_ms=round((now - started) * 1000, 2),
        token_count=tokens,
        tokens_per_sec=rate,
        model_calls=calls,
    )
