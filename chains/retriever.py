"""A Chroma retriever that keeps each hit's cosine similarity and citation key.

LangChain's ``VectorStoreRetriever`` drops scores, and the relevance-score path warns on
negative cosine similarities. We ask Chroma for distances (cosine space) and store
``1 - distance``, clamped to 0..1, in ``metadata["score"]``; with a ``title_weight`` the
score blends in the similarity of the hit's document card and the hits are ranked by it
(:mod:`chains.title_boost`). Each hit also gets
``metadata["cite"]``, the rank-based key (:func:`~chains.events.cite_key`) the prompt
tells the model to cite, so the callback handler, the prompt and the citation tracker
all agree on it. Of each document, only the newest version's chunks are kept
(:mod:`chains.versions`): that is how a search stays consistent while another process
replaces a document, without a lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from langchain_chroma import Chroma
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, PrivateAttr

from chains.errors import SearchTimeoutError
from chains.events import MetadataValue, cite_key
from chains.title_boost import DocumentCards, boosted
from chains.versions import newest_only

MetadataFilter = Mapping[str, MetadataValue]
"""A flat metadata equality filter, e.g. ``{"topic": "streaming", "year": 2024}``."""


def chroma_where(filter: MetadataFilter | None) -> dict[str, Any] | None:
    """Turn a flat equality mapping into Chroma's ``where`` (``$and`` for several keys)."""
    if not filter:
        return None
    clauses = [{key: value} for key, value in filter.items()]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ScoredRetriever(BaseRetriever):
    """Similarity search over a Chroma store; hits carry ``score`` and ``cite`` metadata.

    ``k`` and ``filter`` can be passed per call, which is how the RAG chain forwards
    each request's options.

    Example:
        >>> retriever = ScoredRetriever(vectorstore=store, k=4)
        >>> docs = await retriever.ainvoke("what is TTFT?", k=2, filter={"topic": "metrics"})
        >>> docs[0].metadata["score"], docs[0].metadata["cite"]
        (0.71, 'doc-001')

    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vectorstore: Chroma
    k: int = Field(4, ge=1, le=100)
    timeout_s: float | None = None
    """Bound of one async search (embedding the question, then the query): past it the
    answer ends with ``search_timeout`` instead of waiting on a stuck model or store."""
    title_weight: float = Field(0.0, ge=0.0, le=1.0)
    """Share of a hit's score that is its document card's similarity
    (:mod:`chains.title_boost`); 0: the chunk's own similarity alone."""
    _cards: DocumentCards | None = PrivateAttr(default=None)

    def _search(
        self, query: str, k: int | None = None, filter: MetadataFilter | None = None
    ) -> list[Document]:
        """The ``k`` nearest chunks matching ``filter``, annotated; both hooks run this."""
        vector = self.vectorstore.embeddings.embed_query(query)  # type: ignore[union-attr]
        hits = self.vectorstore.similarity_search_by_vector_with_relevance_scores(
            vector, k=k or self.k, filter=chroma_where(filter)
        )
        current = newest_only(hits, chunk=lambda hit: hit[0])
        found = [
            annotate(doc, 1.0 - distance, rank) for rank, (doc, distance) in enumerate(current)
        ]
        if not self.title_weight:
            return found
        return boosted(found, self._document_cards().similarity(vector), self.title_weight)

    def warm(self) -> None:
        """Read and embed the document cards (:mod:`chains.title_boost`) before a search."""
        if self.title_weight:
            self._document_cards().refresh()

    def _document_cards(self) -> DocumentCards:
        if self._cards is None:
            self._cards = DocumentCards(self.vectorstore)
        return self._cards

    # LangChain passes per-call ``k`` and ``filter`` to these hooks as keyword options.
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **options: Any
    ) -> list[Document]:
        return self._search(query, **options)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **options: Any
    ) -> list[Document]:
        try:
            return await asyncio.wait_for(
                run_in_executor(None, self._search, query, **options), self.timeout_s
            )
        except TimeoutError as exc:
            raise SearchTimeoutError(
                f"The search took longer than {self.timeout_s:g} s and was abandoned."
            ) from exc


def annotate(doc: Document, similarity: float, rank: int) -> Document:
    """Copy ``doc`` with its cosine similarity (clamped to 0..1) and citation key."""
    score = min(1.0, max(0.0, similarity))
    metadata = {**doc.metadata, "score": round(score, 4), "cite": cite_key(rank)}
    return Document(id=doc.id, page_content=doc.page_content, metadata=metadata)
