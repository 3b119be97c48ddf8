"""The typed-event runnable: runs the RAG chain and yields its events from a bounded queue.

One object, two doors: LangServe mounts it at ``/rag/events`` (so
``RemoteRunnable(".../rag/events").astream(...)`` yields these events) and the SSE route
iterates the same object's ``astream()``. Order of a good stream: ``status`` →
every ``source`` → ``status`` → ``ttft`` → ``token``/``citation`` interleaved → ``done``.

The error guarantee lives here, so both doors get it: input that does not validate
raises before the first event (the routes turn that into a 422); once the stream has
started, any failure ends it with exactly one ``error`` event instead of ``done``.

Tasks: ``astream`` (the consumer) starts one producer task that runs the chain with a
:class:`~callbacks.queue_handler.QueueCallbackHandler`. The consumer always cancels and
awaits the producer in ``finally``: when the client disconnects, the cancellation of the
consumer reaches the producer at once, which closes the LLM's HTTP stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config

from callbacks.progressive import Draft, Outcome, run_progressive
from callbacks.queue_handler import QueueCallbackHandler
from callbacks.stream_clock import StreamClock
from callbacks.stream_request import StreamRequest
from chains.citations import CitationTracker
from chains.errors import StreamingRagError, error_event_for
from chains.event_runnable import EventRunnable
from chains.events import (
    CitationEvent,
    ContextUpdateEvent,
    DoneEvent,
    ErrorEvent,
    GroundingSummary,
    RagEvent,
    ReviseEvent,
    Source,
    StatusEvent,
    TokenEvent,
    TtftEvent,
)
from chains.follow_ups import joined_search, needs_rewrite
from chains.grounding import GroundingCheck, LiveGrounding
from chains.progressive import ProgressivePlan
from chains.rag import rag_input_model


@dataclass(frozen=True)
class _Finished:
    """The producer's last word: the answer it finished, or the ``error`` it raised."""

    outcome: Outcome | None = None
    error: BaseException | None = None


_GROUNDED = object()
"""Put on the queue when the grounding check has results, so they leave between tokens."""


class RagEventStream(EventRunnable[RagEvent]):
    """Yield the typed events of one answer.

    Example:
        >>> events = RagEventStream(rag_chain, maxsize=256, default_k=4)
        >>> async for event in events.astream({"question": "What is SSE?"}):
        ...     print(event.type)  # status, source..., status, ttft, token..., done

    """

    def __init__(
        self,
        rag_chain: Runnable[Any, Any],
        *,
        maxsize: int = 256,
        default_k: int = 4,
        progressive: ProgressivePlan | None = None,
        progressive_default: bool = False,
        grounding: GroundingCheck | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1 (a bounded queue), got {maxsize}")
        if progressive_default and progressive is None:
            raise ValueError("progressive_default needs a ProgressivePlan")
        self.rag_chain = rag_chain
        self.maxsize = maxsize
        self.progressive = progressive
        self.grounding = grounding
        self.input_model = rag_input_model(
            default_k, base=StreamRequest, progressive=progressive_default
        )
        self.name = "rag_events"

    @property
    def InputType(self) -> type[StreamRequest]:
        """The validated request model, so LangServe's schema and playground show it."""
        return self.input_model

    @property
    def OutputType(self) -> Any:
        """Each streamed item is one typed event."""
        return RagEvent

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[RagEvent]:
        """Yield each event in protocol order; a failure is one last ``error`` event.

        Raises:
            pydantic.ValidationError: ``input`` is not a valid request (before any event).

        """
        request = self.input_model.model_validate(input)
        try:
            async for event in self._events(request, config):
                yield event
        except Exception as exc:  # the stream has started: end it with one error event
            yield error_event_for(exc)

    async def _events(
        self, request: StreamRequest, config: RunnableConfig | None
    ) -> AsyncIterator[RagEvent]:
        """The events of one answer; a failure reported by the chain ends them."""
        started = time.perf_counter()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.maxsize)
        handler = QueueCallbackHandler(queue, stream_sources=request.stream_sources)
        mode = self.progressive.follow_up_search if self.progressive else "joined"
        joined = joined_search(request.question, request.chat_history, mode)  # None: as asked
        producer = asyncio.create_task(
            _produce(self._answer(request, joined, config, handler, queue), queue)
        )
        metrics = StreamClock(started)
        tracker: CitationTracker | None = None
        drafted: Sequence[Source] | None = None  # progressive: the draft's sources
        answer: list[str] = []
        checker: LiveGrounding | None = None

        def grounded() -> None:
            with contextlib.suppress(asyncio.QueueFull):  # a token will carry them out
                queue.put_nowait(_GROUNDED)

        try:
            with_it = " for the follow-up with the question before it" if joined else ""
            searching = f"searching for {request.k} sources{with_it}"
            yield StatusEvent(phase="retrieving", message=searching, query=joined)
            while True:
                item = await queue.get()
                if isinstance(item, _Finished):
                    if item.error is not None:
                        yield error_event_for(item.error)
                        return
                    outcome = item.outcome
                    break
                if item is _GROUNDED:
                    for grounding in checker.take() if checker else []:
                        yield grounding
                    continue
                if isinstance(item, Draft):
                    if checker is not None:
                        await checker.aclose()
                    drafted, tracker, answer, checker = item.sources, None, [], None
                    wave_1 = {source.id for source in handler.sources}
                    metrics.revised |= any(s.id not in wave_1 for s in drafted)
                    continue
                if isinstance(item, ErrorEvent):
                    yield item
                    return
                if item.type == "source" and metrics.ttfs_ms is None:
                    metrics.ttfs_ms = metrics.now_ms()
                elif isinstance(item, ContextUpdateEvent) and item.wave == item.total_waves:
                    metrics.last_wave_ms = metrics.now_ms()
                elif isinstance(item, ReviseEvent):
                    metrics.revised = True
                elif isinstance(item, TokenEvent):
                    if tracker is None:
                        written_from = drafted or handler.sources
                        tracker = CitationTracker(_keys(written_from))
                        if self.grounding is not None and written_from:
                            checker = self.grounding.start(written_from, request.kb, grounded)
                        if (ttft_ms := metrics.first_token()) is not None:
                            yield TtftEvent(ms=round(ttft_ms, 2))
                    metrics.last_token = time.perf_counter()
                    answer.append(item.content)
                    yield item
                    for c in tracker.feed(item.content):
                        yield CitationEvent(
                            cite=c.cite,
                            source_id=c.source_id,
                            valid=c.valid,
                            token_index=c.token_index,
                        )
                    if checker is not None:
                        checker.feed(item.content)
                        for grounding in checker.take():
                            yield grounding
                    continue
                yield item
            tracker = tracker or CitationTracker(_keys(drafted or handler.sources))
            for grounding in await checker.finish() if checker else []:
                yield grounding
            yield DoneEvent(
                answer="".join(answer) if answer else (outcome.answer if outcome else ""),
                cited=tracker.cited,
                uncited=tracker.uncited,
                invalid_citations=tracker.invalid,
                metrics=metrics.summary(
                    handler.retrieval_ms,
                    len(answer),
                    outcome.rewrite_ms if outcome else None,
                    usage=handler.usage if answer else None,
                ),
                waves=outcome.waves if outcome else None,
                grounding=self._summary(checker),
            )
        finally:
            # Both cancelled before any await: in a cancelled scope (the client left) the
            # first await raises at once, and the producer must be cancelled by then.
            producer.cancel()
            workers = [producer] if checker is None else [producer, checker.stop()]
            await asyncio.gather(*workers, return_exceptions=True)

    def _summary(self, checker: LiveGrounding | None) -> GroundingSummary | None:
        """``done.grounding``: the check's summary; an answer with no sentence has one too."""
        if self.grounding is None:
            return None
        return checker.summary() if checker else GroundingSummary.empty()

    async def _answer(
        self,
        request: StreamRequest,
        joined: str | None,
        config: RunnableConfig | None,
        handler: QueueCallbackHandler,
        queue: asyncio.Queue[Any],
    ) -> Outcome:
        """Run the plain chain, or waves (progressive, or a follow-up's rewrite), handled.

        ``joined`` is what a follow-up that leans back searches first (None: the question).
        """
        chain_input = {
            "question": request.question,
            "k": request.k,
            "filter": request.filter,
            "chat_history": request.chat_history,
            "kb": request.kb,
        }
        handled = _with_handler(config, handler)
        plan = self.progressive
        leans = needs_rewrite(request.question, request.chat_history)
        follow_up = bool(plan and plan.condenser and plan.follow_up_search != "joined" and leans)
        if not (request.progressive or follow_up):  # the chain joins a follow-up's itself
            output = await self.rag_chain.ainvoke(chain_input, handled)
            return Outcome(output["answer"])
        if plan is None:
            raise StreamingRagError("progressive mode is not configured on this stream")
        chain_input["search_query"] = joined or request.question
        return await run_progressive(
            plan,
            chain_input,
            ensure_config(config),
            handled,
            queue,
            progressive=request.progressive,
            follows_up=follow_up,
        )


def _keys(sources: Sequence[Source]) -> dict[str, str | None]:
    """The citation keys an answer may use, and the chunk each names."""
    return {source.cite: source.id for source in sources}


async def _produce(answer: Coroutine[Any, Any, Outcome], queue: asyncio.Queue[Any]) -> None:
    """Run ``answer``; the handler fills the queue, and we add the final marker."""
    try:
        outcome = await answer
    except asyncio.CancelledError:
        raise  # the consumer is gone; nobody reads a marker
    except Exception as exc:  # every failure becomes one error event
        await queue.put(_Finished(error=exc))
    else:
        await queue.put(_Finished(outcome))


def _with_handler(config: RunnableConfig | None, handler: QueueCallbackHandler) -> RunnableConfig:
    """Add our handler to whatever callbacks the caller (e.g. LangServe) configured."""
    config = ensure_config(config)
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(handler, inherit=True)
        return {**config, "callbacks": manager}
    return {**config, "callbacks": [*(callbacks or []), handler]}
