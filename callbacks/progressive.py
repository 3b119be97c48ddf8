"""The producer of a progressive answer: wave 1, a draft, later waves, maybe a revise.

It runs inside :class:`~callbacks.event_stream.RagEventStream`'s producer task and
talks to the consumer only through the queue, in order:

1. Wave 1 runs with the queue handler, so its ``source`` (and ``widening``) events
   stream as usual; it searches the request's ``search_query`` (a follow-up joined to
   the earlier question, :func:`~chains.follow_ups.follow_up_query`) or its question.
   A follow-up's rewrite (:mod:`chains.conversation`), in the modes that have one,
   starts as soon as wave 1's search is done (a ``status`` event, phase ``rewriting``),
   beside the draft.
2. A :class:`Draft` marker names the sources the coming generation is written from
   (the citation tracker's keys), then the draft's generation starts, streaming
   ``token`` events through the handler: on the top ``first_k`` sources in progressive
   mode, on all of wave 1's for a follow-up asked without it. A follow-up's draft may
   instead wait for the standalone wave (``follow_up_draft="after_rewrite"``), which
   then picks its context by the same rule, so it is never revised.
3. Each later wave runs *without* the handler (its chunks are not ``source`` events)
   and becomes one ``context_update``. A follow-up's first later wave searches its
   standalone question (the event carries it as ``query``), and the waves after it
   search that question too. A rewrite that brings words from neither the conversation
   nor the follow-up (:func:`~chains.follow_ups.foreign_words`) is discarded (a
   ``status`` event, phase ``rewrite_discarded``), and the wave searches what wave 1
   did, as after a failed rewrite. When a wave changes the context materially
   (:func:`~chains.progressive.changes_materially`), the generation in flight is
   cancelled (closing its model request), a ``revise`` event follows, and a new
   :class:`Draft` and generation start on the wave's ranking, in key order.

When wave 1 finds nothing, the answer is the "not in the knowledge base" sentence,
without a model call or later waves; a follow-up's standalone wave may still find
sources, and the draft then starts from them. Rules are in :mod:`chains.progressive`;
this module only sequences them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig

from chains.conversation import ChatMessage, as_messages, standalone_question
from chains.events import ContextUpdateEvent, ReviseEvent, Source, StatusEvent
from chains.follow_ups import foreign_words
from chains.knowledge_bases import kb_option
from chains.progressive import (
    ProgressivePlan,
    StableKeys,
    as_documents,
    changes_materially,
    in_key_order,
)
from chains.prompt import format_sources
from chains.rag import NOT_IN_KNOWLEDGE_BASE

REWRITING = "rewriting the follow-up as a question that stands on its own"
"""The ``status`` message while a follow-up's standalone question is written."""


@dataclass(frozen=True)
class Draft:
    """Queue marker: the next tokens are an answer written from ``sources``."""

    sources: Sequence[Source]


@dataclass(frozen=True)
class Outcome:
    """What the producer hands the consumer at the end: the answer and the waves used."""

    answer: str
    waves: list[int] | None = None
    rewrite_ms: float | None = None
    """A follow-up's rewrite: how long the standalone question took."""


async def run_progressive(
    plan: ProgressivePlan,
    request: dict[str, Any],
    config: RunnableConfig,
    handled: RunnableConfig,
    queue: asyncio.Queue[Any],
    *,
    progressive: bool = True,
    follows_up: bool = False,
) -> Outcome:
    """Answer ``request`` in waves; ``handled`` is ``config`` plus the queue handler.

    ``follows_up``: the question leans on its history (the caller has checked
    :func:`~chains.follow_ups.needs_rewrite` and the plan's condenser), so a
    standalone-question wave comes first. ``progressive`` False is such a follow-up
    asked without progressive context: the draft is written from all of wave 1's
    sources, and the only later wave is the standalone question's.
    """
    question, k, filter = request["question"], request["k"], request["filter"]
    on_kb = kb_option(request.get("kb", ""))
    history: list[ChatMessage] = request.get("chat_history") or []
    waves: list[BaseRetriever | None] = [None] if follows_up else []  # None: the rewrite's
    waves += plan.waves if progressive else []
    draft_k = plan.first_k if progressive else k
    chat = as_messages(history)
    searched = request.get("search_query") or question
    documents = await plan.retriever.ainvoke(searched, handled, k=k, filter=filter, **on_kb)
    if not documents and not follows_up:
        return Outcome(NOT_IN_KNOWLEDGE_BASE, waves=[])
    rewrite: asyncio.Task[str] | None = None
    if plan.condenser is not None and follows_up:
        # Only now: the engine's prompt processing would slow the question's embedding.
        rewrite_started = time.perf_counter()
        condensing = standalone_question(plan.condenser, question, history, config)
        rewrite = asyncio.create_task(condensing)
        await queue.put(StatusEvent(phase="rewriting", message=REWRITING))
    first = [Source.from_document(doc, i) for i, doc in enumerate(documents)]
    keys = StableKeys(first)
    wave_of: dict[str | None, int] = {source.id: 1 for source in first}
    context = first[:draft_k]
    held = follows_up and plan.follow_up_draft == "after_rewrite"
    generation = None
    if context and not held:
        generation = await _draft(plan, question, chat, context, handled, queue)
    query, rewrite_ms = question, None
    try:
        for wave, retriever in enumerate(waves, start=2):
            if retriever is None and rewrite is not None:
                query = await rewrite
                rewrite_ms = (time.perf_counter() - rewrite_started) * 1000
                if foreign := foreign_words(query, question, history):
                    await queue.put(_discarded(query, foreign))
                if foreign or query == question:  # discarded, or no rewrite came
                    query = searched
            search = retriever or plan.retriever
            found = await search.ainvoke(query, config, k=k, filter=filter, **on_kb)
            ranked = keys.sources_for(found)
            new = [source for source in ranked if source.id not in wave_of]
            wave_of.update((source.id, wave) for source in new)
            await queue.put(
                ContextUpdateEvent(
                    wave=wave,
                    total_waves=1 + len(waves),
                    new_ids=[source.id for source in new],
                    context_ids=[source.id for source in ranked],
                    sources=new,
                    query=query if rewrite is not None else None,
                )
            )
            if generation is None:  # no draft yet: held for this wave, or nothing found
                if not (held and context and not changes_materially(context, ranked, plan.first_k)):
                    context = in_key_order(ranked[:draft_k])  # else wave 1's context stands
                held = False
                if context:
                    generation = await _draft(plan, question, chat, context, handled, queue)
                continue
            if not changes_materially(context, ranked, plan.first_k):
                continue
            generation.cancel()
            await asyncio.gather(generation, return_exceptions=True)
            by = f"the standalone question {query!r}"
            if retriever is not None:
                by = f"{retriever.get_name()} search"
            reason = _reason(by, ranked[: plan.first_k], context)
            await queue.put(ReviseEvent(wave=wave, reason=reason))
            context = in_key_order(ranked)
            generation = await _draft(plan, question, chat, context, handled, queue)
        if generation is None:
            return Outcome(NOT_IN_KNOWLEDGE_BASE, waves=[], rewrite_ms=rewrite_ms)
        answer = await generation
    finally:
        for task in (generation, rewrite):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    waves_used = sorted({wave_of[source.id] for source in context})
    return Outcome(answer, waves=waves_used, rewrite_ms=rewrite_ms)


def _discarded(rewrite: str, foreign: Sequence[str]) -> StatusEvent:
    """The ``status`` event of a rewrite that is not searched, naming the words it brought."""
    words = ", ".join(repr(word) for word in foreign)
    return StatusEvent(
        phase="rewrite_discarded",
        message=f"the rewrite {rewrite!r} was not searched: {words} appear neither in the "
        "conversation nor in the question",
    )


def _reason(by: str, best: Sequence[Source], context: Sequence[Source]) -> str:
    """Why the answer restarts, in the ``revise`` event's words."""
    top = ", ".join(source.cite for source in best)
    drafted = ", ".join(source.cite for source in context)
    return f"{by} ranks {top} first; the draft was written from {drafted}"


async def _draft(
    plan: ProgressivePlan,
    question: str,
    chat_history: list[BaseMessage],
    context: Sequence[Source],
    handled: RunnableConfig,
    queue: asyncio.Queue[Any],
) -> asyncio.Task[str]:
    """Announce the draft's sources, then start writing it in a task."""
    await queue.put(Draft(context))
    prompt_input = {
        "question": question,
        "context": format_sources(as_documents(context)),
        "chat_history": chat_history,
    }
    return asyncio.create_task(plan.answer.ainvoke(prompt_input, handled))
