"""The producer of a progressive answer: wave 1, a draft, later waves, maybe a revise.

It runs inside :class:`~callbacks.event_stream.RagEventStream`'s producer task and
talks to the consumer only through the queue, in order:

1. Wave 1 runs with the queue handler, so its ``source`` (and ``widening``) events
   stream as usual. When it finds nothing, the answer is the "not in the knowledge
   base" sentence, without a model call and without later waves.
2. A :class:`Draft` marker names the sources the coming generation is written from
   (the citation tracker's keys), then the draft's generation starts, on the top
   ``first_k`` sources, streaming ``token`` events through the handler.
3. Each later wave runs *without* the handler (its chunks are not ``source`` events)
   and becomes one ``context_update``. When it changes the context materially
   (:func:`~chains.progressive.changes_materially`), the generation in flight is
   cancelled (closing its model request), a ``revise`` event follows, and a new
   :class:`Draft` and generation start on the wave's ranking, in key order.

Rules are in :mod:`chains.progressive`; this module only sequences them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig

from chains.events import ContextUpdateEvent, ReviseEvent, Source
from chains.progressive import (
    ProgressivePlan,
    StableKeys,
    as_documents,
    changes_materially,
    in_key_order,
)
from chains.prompt import format_sources
from chains.rag import NOT_IN_KNOWLEDGE_BASE


@dataclass(frozen=True)
class Draft:
    """Queue marker: the next tokens are an answer written from ``sources``."""

    sources: Sequence[Source]


@dataclass(frozen=True)
class Outcome:
    """What the producer hands the consumer at the end: the answer and the waves used."""

    answer: str
    waves: list[int] | None = None


async def run_progressive(
    plan: ProgressivePlan,
    request: dict[str, Any],
    config: RunnableConfig,
    handled: RunnableConfig,
    queue: asyncio.Queue[Any],
) -> Outcome:
    """Answer ``request`` progressively; ``handled`` is ``config`` plus the queue handler."""
    question, k, filter = request["question"], request["k"], request["filter"]
    documents = await plan.retriever.ainvoke(question, handled, k=k, filter=filter)
    if not documents:
        return Outcome(NOT_IN_KNOWLEDGE_BASE, waves=[])
    first = [Source.from_document(doc, i) for i, doc in enumerate(documents)]
    keys = StableKeys(first)
    wave_of: dict[str | None, int] = {source.id: 1 for source in first}
    context = first[: plan.first_k]
    generation = await _draft(plan, question, context, handled, queue)
    try:
        for wave, retriever in enumerate(plan.waves, start=2):
            ranked = keys.sources_for(await retriever.ainvoke(question, config, k=k, filter=filter))
            new = [source for source in ranked if source.id not in wave_of]
            wave_of.update((source.id, wave) for source in new)
            await queue.put(
                ContextUpdateEvent(
                    wave=wave,
                    total_waves=plan.total_waves,
                    new_ids=[source.id for source in new],
                    context_ids=[source.id for source in ranked],
                    sources=new,
                )
            )
            if not changes_materially(context, ranked, plan.first_k):
                continue
            generation.cancel()
            await asyncio.gather(generation, return_exceptions=True)
            best = ", ".join(source.cite for source in ranked[: plan.first_k])
            drafted = ", ".join(source.cite for source in context)
            await queue.put(
                ReviseEvent(
                    wave=wave,
                    reason=f"{retriever.get_name()} search ranks {best} first; "
                    f"the draft was written from {drafted}",
                )
            )
            context = in_key_order(ranked)
            generation = await _draft(plan, question, context, handled, queue)
        answer = await generation
    finally:
        generation.cancel()
        await asyncio.gather(generation, return_exceptions=True)
    return Outcome(answer, waves=sorted({wave_of[source.id] for source in context}))


async def _draft(
    plan: ProgressivePlan,
    question: str,
    context: Sequence[Source],
    handled: RunnableConfig,
    queue: asyncio.Queue[Any],
) -> asyncio.Task[str]:
    """Announce the draft's sources, then start writing it in a task."""
    await queue.put(Draft(context))
    prompt_input = {"question": question, "context": format_sources(as_documents(context))}
    return asyncio.create_task(plan.answer.ainvoke(prompt_input, handled))
