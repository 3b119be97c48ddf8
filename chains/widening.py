"""Incremental search: widen only when the first search is weak, and say so.

A search *clears* when its best hit scores at least ``min_score`` (its score as
:class:`~chains.retriever.ScoredRetriever` gives it, ``RAG_MIN_SCORE``). When the first
search does not clear, the search widens in these steps, stopping at the first that
clears:

1. **A larger k**: ``4 * k`` candidates. Chroma's HNSW index is approximate; a wider
   search explores more of it and can surface closer chunks the narrow one missed.
2. **Filters relaxed**, one key at a time, the last key of the request's filter first,
   then no filter at all. (Skipped when the request has no filter.)
3. **Keyword search** (BM25, no filter): a hit clears when it holds at least half of the
   question's IDF weight (:data:`~chains.keyword.KEYWORD_MIN_COVERAGE`), which is how an
   error code or a rare name the embeddings miss is still found.

With ``per_document`` each step ranks ten times as many candidates and keeps its best
``k`` sources by :func:`~chains.diversity.diversify` (so many per document, neighbours
merged). Each step is announced as a LangChain custom event ``widening`` (``step``,
``message``), which the callback handler turns into a ``status`` event with
``phase: "widening"``.
When no step clears, the retriever returns no documents, and the RAG chain answers
:data:`~chains.rag.NOT_IN_KNOWLEDGE_BASE` without calling the model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field

from chains.diversity import CANDIDATES_PER_SOURCE, diversify
from chains.keyword import KEYWORD_MIN_COVERAGE, KeywordRetriever
from chains.retriever import MetadataFilter, ScoredRetriever

WIDEN_FACTOR = 4
"""Step 1 searches this many times the requested ``k``."""


def relaxed_filters(filter: MetadataFilter) -> list[dict[str, Any]]:
    """The filters step 2 tries, in order: drop the last key, then the next, down to ``{}``.

    Example:
        >>> relaxed_filters({"topic": "sse", "year": 2024})
        [{'topic': 'sse'}, {}]

    """
    keys = list(filter)
    return [{key: filter[key] for key in keys[:n]} for n in range(len(keys) - 1, -1, -1)]


class WideningRetriever(BaseRetriever):
    """A vector search that widens in documented steps until a hit clears ``min_score``.

    With ``min_score`` 0 every search clears, and this is the plain vector search.

    Example:
        >>> retriever = WideningRetriever(vector=scored, keyword=bm25, min_score=0.3)
        >>> await retriever.ainvoke("How do I bake bread?")  # nothing clears
        []

    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vector: ScoredRetriever
    keyword: KeywordRetriever
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    per_document: int = Field(0, ge=0)
    """At most this many sources per document, neighbours merged (:mod:`chains.diversity`);
    0: the ranking as it is."""

    def _steps(
        self, query: str, k: int, filter: MetadataFilter
    ) -> Iterator[tuple[str, str, Callable[[], list[Document]]]]:
        """Each step's name, its announcement, and a search returning only hits that clear."""
        yield "first", "", functools.partial(self._vector_hits, query, k, k, filter)
        wide = k * WIDEN_FACTOR
        yield (
            "larger_k",
            f"no source scores {self.min_score:.2f} or more; searching {wide} chunks",
            functools.partial(self._vector_hits, query, k, wide, filter),
        )
        for relaxed in relaxed_filters(filter):
            yield (
                "relax_filter",
                f"searching with filter {relaxed or 'none'}",
                functools.partial(self._vector_hits, query, k, wide, relaxed),
            )
        yield "keyword", "searching by keyword", functools.partial(self._keyword_hits, query, k)

    def _vector_hits(
        self, query: str, k: int, candidates: int, filter: MetadataFilter
    ) -> list[Document]:
        """The best ``k`` sources of ``candidates`` vector hits, or none when the best is weak."""
        hits = self.vector._search(query, self._pool(candidates), filter)
        if not hits or hits[0].metadata["score"] < self.min_score:
            return []
        return diversify(hits, k, self.per_document)

    def _keyword_hits(self, query: str, k: int) -> list[Document]:
        """Keyword hits that hold enough of the question, cited in their new rank order."""
        hits = self.keyword._search(query, self._pool(k), None)
        found = [hit for hit in hits if hit.metadata["coverage"] >= KEYWORD_MIN_COVERAGE]
        return diversify(found, k, self.per_document)

    def _pool(self, candidates: int) -> int:
        """How many hits to rank: more when some may give their slot to another document."""
        return CANDIDATES_PER_SOURCE * candidates if self.per_document else candidates

    def _nothing(self) -> str:
        return f"nothing in the knowledge base scores {self.min_score:.2f} or more"

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: MetadataFilter | None = None,
    ) -> list[Document]:
        config: RunnableConfig = {"callbacks": run_manager.get_child()}
        for step, message, search in self._steps(query, k or self.vector.k, filter or {}):
            if step != "first":
                await adispatch_custom_event("widening", _data(step, message), config=config)
            hits = await run_in_executor(None, search)
            if hits:
                return hits
        await adispatch_custom_event("widening", _data("nothing", self._nothing()), config=config)
        return []

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: MetadataFilter | None = None,
    ) -> list[Document]:
        config: RunnableConfig = {"callbacks": run_manager.get_child()}
        for step, message, search in self._steps(query, k or self.vector.k, filter or {}):
            if step != "first":
                dispatch_custom_event("widening", _data(step, message), config=config)
            hits = search()
            if hits:
                return hits
        dispatch_custom_event("widening", _data("nothing", self._nothing()), config=config)
        return []


def _data(step: str, message: str) -> dict[str, str]:
    return {"step": step, "message": message}
