"""Progressive context: start the answer from the best source at once, enrich it in waves.

**Wave 1** is the first search (:class:`~chains.widening.WideningRetriever`): all its
sources stream at once, and generation starts on the top ``first_k`` of them
(``RAG_PROGRESSIVE_FIRST_K``), a short prompt the engine reads quickly.

**Later waves** run a slower, better retrieval while the draft is being written, and
each reports the sources it adds (a ``context_update`` event). The one built here is
**hybrid** search for a question that names an exact term
(:func:`~chains.keyword.exact_terms`: ``pathlib.Path.stat``, ``on_llm_new_token``,
``ZQX-4471``): BM25 keyword search and vector search, each over ``2 * k`` candidates,
fused by reciprocal rank (LangChain's ``EnsembleRetriever``, equal weights, ``c = 60``).
A small embedding model blurs such a name into word pieces and ranks the chunk that
defines it low; BM25 finds it. On the Python documentation (bench section 11, measured
2026-12-01) it put the defining chunk of 60 sampled API names into the top 4 for 62%
of them against 47% by vector search (top 1: 37% against 25%). A question in plain
words gets the vector ranking alone: fusing lost there (top 1: 51% against 62%).

**A material change.** A wave changes the context materially when one of its top
``first_k`` sources is a chunk the draft was not written from. The answer is then
redone on the wave's top ``k`` (after a ``revise`` event); otherwise generation
continues untouched. Another chunk of a document the draft cites counts: an API
question's defining chunk is usually in the chapter the vector search found. On the
same benchmark this rule revised 27 of the 60 API answers, 14 of them from a context
without the answer's passage to one with it and none the other way; the earlier
document rule revised 6 (3 fixed). Questions in plain words revised 1 of 45.

**Stable keys, shared prefix.** A chunk keeps the citation key it was first shown with;
a chunk a later wave adds gets the next free key (``doc-005``...). Every prompt lists its
sources in key order, so a revised prompt starts with the same instructions and wave-1
sources as the draft's, and the engine's prompt cache reuses that prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_classic.retrievers import EnsembleRetriever
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable
from pydantic import ConfigDict

from chains.diversity import CANDIDATES_PER_SOURCE, diversify
from chains.events import Source, cite_key
from chains.keyword import KeywordRetriever, exact_terms
from chains.retriever import MetadataFilter, ScoredRetriever

RRF_C = 60
"""The reciprocal-rank constant of the fusion (the paper's and LangChain's default)."""


class HybridRetriever(BaseRetriever):
    """Vector and keyword search fused by reciprocal rank; takes per-call ``k``/``filter``.

    With ``exact_terms_only`` (the default) a question that names no exact term
    (:func:`~chains.keyword.exact_terms`) gets the vector ranking alone: fusing helps a
    question that names ``pathlib.Path.stat`` or ``ZQX-4471`` and hurts one in plain
    words (bench section 11).

    Example:
        >>> hybrid = HybridRetriever(vector=scored, keyword=bm25)
        >>> await hybrid.ainvoke("What does pathlib.Path.stat do?", k=4)  # both, fused
        >>> await hybrid.ainvoke("Why stream tokens?", k=4)  # the vector ranking

    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vector: ScoredRetriever
    keyword: KeywordRetriever
    exact_terms_only: bool = True
    """Fuse only when the question names an exact term; otherwise rank by vector alone."""
    per_document: int = 0
    """At most this many sources per document (:mod:`chains.diversity`); 0: no cap."""

    def _search(self, query: str, k: int, filter: MetadataFilter | None) -> Runnable[str, Any]:
        where = dict(filter or {})
        pool = CANDIDATES_PER_SOURCE * k if self.per_document else k
        if self.exact_terms_only and not exact_terms(query):
            return self.vector.bind(k=pool, filter=where)
        options = {"k": max(2 * k, pool), "filter": where}
        return EnsembleRetriever(
            retrievers=[self.vector.bind(**options), self.keyword.bind(**options)],
            weights=[0.5, 0.5],
            c=RRF_C,
        )

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: MetadataFilter | None = None,
    ) -> list[Document]:
        k = k or self.vector.k
        ranked = self._search(query, k, filter).invoke(
            query, {"callbacks": run_manager.get_child()}
        )
        return diversify(ranked, k, self.per_document)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: MetadataFilter | None = None,
    ) -> list[Document]:
        k = k or self.vector.k
        ranked = await self._search(query, k, filter).ainvoke(
            query, {"callbacks": run_manager.get_child()}
        )
        return diversify(ranked, k, self.per_document)


@dataclass(frozen=True)
class ProgressivePlan:
    """What a progressive answer runs: the first search, the later waves, the generator."""

    retriever: BaseRetriever
    """Wave 1 (the widening vector search); its sources stream as ``source`` events."""
    waves: Sequence[BaseRetriever]
    """Waves 2, 3...: each takes ``k`` and ``filter`` and returns its ranked chunks."""
    answer: Runnable[dict[str, Any], str]
    """``{"context", "question"}`` → the answer text (:func:`~chains.rag.build_answer_chain`)."""
    first_k: int = 1
    """How many of wave 1's best sources the draft is written from."""
    condenser: Runnable[dict[str, Any], str] | None = None
    """A follow-up's rewrite (:func:`~chains.conversation.build_condenser`): with it, a
    follow-up gets a standalone-question wave before the others; None: no such wave."""
    follow_up_search: Literal["joined", "joined_rewrite", "rewrite"] = "joined"
    """How a follow-up that leans back is searched: ``joined`` to the earlier question
    (:func:`~chains.follow_ups.follow_up_query`) and nothing more; ``joined_rewrite``, then
    the condenser's checked rewrite as wave 2; ``rewrite``, the follow-up as written, then
    the rewrite. With either rewrite, the follow-up runs in waves."""
    follow_up_draft: Literal["at_once", "after_rewrite"] = "after_rewrite"
    """When a rewritten follow-up's draft starts: once the standalone wave has chosen its
    sources by the material-change rule, or at once on wave 1's (revised when the wave
    changes them). Waiting measured faster to the answer that stands: 846 against
    1,661 ms p50 on 48 dialogues, the draft's prompt no longer slowing the rewrite
    (175 against 564 ms; bench section 15, 2026-12-02)."""


def changes_materially(draft: Sequence[Source], ranked: Sequence[Source], first_k: int) -> bool:
    """True when one of the wave's ``first_k`` best sources is a chunk the draft lacks."""
    drafted = {source.id for source in draft}
    return any(source.id not in drafted for source in ranked[:first_k])


class StableKeys:
    """Citation keys that never change meaning within one answer.

    Example:
        >>> keys = StableKeys(first)  # wave 1's sources: doc-001 .. doc-004
        >>> [s.cite for s in keys.sources_for(hybrid_docs)]  # a new chunk second
        ['doc-001', 'doc-005', 'doc-002', 'doc-003']

    """

    def __init__(self, first: Sequence[Source]) -> None:
        self.known: dict[str | None, Source] = {source.id: source for source in first}

    def sources_for(self, documents: Sequence[Document]) -> list[Source]:
        """``documents`` as sources, in their rank order, keyed by first appearance."""
        sources = []
        for doc in documents:
            source = self.known.get(doc.id)
            if source is None:
                index = len(self.known)
                cited = Document(
                    id=doc.id,
                    page_content=doc.page_content,
                    metadata={**doc.metadata, "cite": cite_key(index)},
                )
                source = self.known[doc.id] = Source.from_document(cited, index)
            sources.append(source)
        return sources


def in_key_order(sources: Sequence[Source]) -> list[Source]:
    """``sources`` in the order their keys were given: the prompt order (shared prefix)."""
    return sorted(sources, key=lambda source: source.index)


def as_documents(sources: Sequence[Source]) -> list[Document]:
    """Sources back as the documents :func:`~chains.prompt.format_sources` renders."""
    return [
        Document(id=s.id, page_content=s.content, metadata={**s.metadata, "cite": s.cite})
        for s in sources
    ]
