"""Keyword (BM25) search over every chunk in the Chroma collection.

Embeddings of a small model miss exact words: an error code, a flag, a rare name. BM25
finds them. The index is langchain-community's :class:`BM25Retriever`, built from a
snapshot of the collection at the first search and rebuilt at the first search after
the collection's ``changed_at`` stamp moved (:mod:`chains.store`), whichever process
wrote. A snapshot holds the newest version of each document (:mod:`chains.versions`).

Each hit carries the same ``score`` as a vector hit (its cosine similarity to the
question, from the stored embedding) plus ``coverage``: the share of the question's IDF
weight that the chunk contains, 0..1. Words most chunks contain weigh almost nothing
(BM25's IDF floor), and a word no chunk contains weighs the most, so a chunk covers half
of a question only when it holds its rarest words. Incremental search accepts a keyword
hit on that basis (:data:`KEYWORD_MIN_COVERAGE`).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_chroma import Chroma
from langchain_community.retrievers import BM25Retriever
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, PrivateAttr
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from chains.chunk_context import embedded_text
from chains.retriever import MetadataFilter, annotate
from chains.store import changed_at
from chains.versions import newest_only

KEYWORD_MIN_COVERAGE = 0.5
"""A keyword hit answers a question when it holds at least half of the question's IDF weight."""

_WORD = re.compile(r"\w+")

_EXACT_TERM = re.compile(
    r"`[^`]+`"  # `backticked`
    r"|\b\w+\(\)"  # a call: main()
    r"|\b[A-Za-z_]\w*\.[A-Za-z_][\w.]*"  # a dotted name: pathlib.Path.stat
    r"|\b\w*[A-Za-z0-9]_\w+"  # snake_case, ALL_CAPS, __dunder__
    r"|\b[a-z]+[A-Z]\w*"  # camelCase
    r"|\b[A-Z]+[a-z0-9]+[A-Z]\w*"  # inner capitals: IntFlag, LangChain
    r"|\b[A-Za-z]+-?\d+\w*"  # letters with digits: BM25, ZQX-4471, UTF-8
)


def keyword_terms(text: str) -> list[str]:
    """Lower-cased words minus English stop words: ``"What is ERR_4711?"`` → ``["err_4711"]``.

    The stop words are scikit-learn's list; without them a question's "what" and "is"
    would count as words the collection lacks when it is small.
    """
    return [word for word in _WORD.findall(text.lower()) if word not in ENGLISH_STOP_WORDS]


def exact_terms(text: str) -> list[str]:
    """The names and codes in ``text`` that only an exact match finds.

    ``"What does pathlib.Path.stat do?"`` → ``["pathlib.Path.stat"]``; a question in
    plain words has none. A small embedding model blurs such a term into its word
    pieces and ranks the chunk that defines it low, where BM25 finds it: on the
    Python documentation, hybrid search put the defining chunk of an API name into the
    top 4 for 62% of the questions against 47% by vector search, and lost to the vector
    search on questions in plain words (bench section 11).
    """
    return _EXACT_TERM.findall(text)


class _Snapshot:
    """The BM25 index of one state of the collection, with each chunk's embedding."""

    def __init__(self, bm25: BM25Retriever | None, vectors: np.ndarray, stamp: int) -> None:
        self.bm25 = bm25
        self.vectors = vectors
        self.stamp = stamp

    def weight(self, term: str) -> float:
        """IDF of ``term``; a word no chunk contains gets the highest possible IDF."""
        assert self.bm25 is not None
        vectorizer = self.bm25.vectorizer
        unseen = math.log(vectorizer.corpus_size + 0.5) - math.log(0.5)
        return max(0.0, float(vectorizer.idf.get(term, unseen)))


class KeywordRetriever(BaseRetriever):
    """BM25 search with per-call ``k`` and ``filter``; hits carry score, coverage and cite.

    Example:
        >>> keyword = KeywordRetriever(vectorstore=store)
        >>> [d.metadata["coverage"] for d in keyword.invoke("ERR_4711", k=2)]
        [1.0, 0.31]

    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vectorstore: Chroma
    k: int = Field(4, ge=1, le=100)

    _snapshot: _Snapshot | None = PrivateAttr(default=None)
    _build_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _current(self) -> _Snapshot:
        """The index of the collection as it is now, rebuilt if it changed since."""
        with self._build_lock:
            # Read the stamp first: a write after it moves it again, so it is not missed.
            stamp = changed_at(self.vectorstore)
            if self._snapshot is None or self._snapshot.stamp != stamp:
                data = self.vectorstore._collection.get(
                    include=["documents", "metadatas", "embeddings"]
                )
                every = [
                    Document(id=i, page_content=text or "", metadata=dict(meta or {}))
                    for i, text, meta in zip(
                        data["ids"], data["documents"] or [], data["metadatas"] or [], strict=True
                    )
                ]
                rows = newest_only(range(len(every)), chunk=every.__getitem__)
                docs = [every[row] for row in rows]
                bm25 = _index(docs) if docs else None
                # An empty collection has no vectors to shape (and no BM25 index).
                vectors = (
                    np.asarray(data["embeddings"], dtype=np.float32)[rows].reshape(len(docs), -1)
                    if docs
                    else np.empty((0, 0), dtype=np.float32)
                )
                self._snapshot = _Snapshot(bm25, vectors, stamp)
            return self._snapshot

    def _search(
        self, query: str, k: int | None = None, filter: MetadataFilter | None = None
    ) -> list[Document]:
        """The ``k`` best BM25 matches of ``query`` (score above 0) that match ``filter``."""
        snapshot = self._current()
        terms = keyword_terms(query)
        if snapshot.bm25 is None or not terms:
            return []
        docs: Sequence[Document] = snapshot.bm25.docs
        scores = snapshot.bm25.vectorizer.get_scores(terms)
        order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > 0]
        if filter:
            order = [i for i in order if _matches(docs[i].metadata, filter)]
        order = order[: k or self.k]
        if not order:
            return []
        cosine = _cosine(self.vectorstore.embeddings.embed_query(query), snapshot.vectors[order])  # type: ignore[union-attr]
        weights = {term: snapshot.weight(term) for term in set(terms)}
        total = sum(weights.values()) or 1.0
        hits = []
        for rank, (i, similarity) in enumerate(zip(order, cosine, strict=True)):
            held = snapshot.bm25.vectorizer.doc_freqs[i]
            coverage = sum(w for term, w in weights.items() if term in held) / total
            hit = annotate(docs[i], float(similarity), rank)
            hit.metadata["coverage"] = round(coverage, 4)
            hits.append(hit)
        return hits

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **options: Any
    ) -> list[Document]:
        return self._search(query, **options)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **options: Any
    ) -> list[Document]:
        return await run_in_executor(None, self._search, query, **options)


def _index(docs: list[Document]) -> BM25Retriever:
    """BM25 over each chunk's header and text; its hits are the chunks themselves.

    The text is :func:`~chains.chunk_context.embedded_text`'s, as the embedding's. A
    header repeats its document's title and summary in every chunk, so on a small
    collection a word of them can sit in exactly half the chunks, where BM25's IDF is 0
    and a code in a document's summary would score nothing: such a word gets the floor
    ``rank_bm25`` already gives a word in more than half of them.
    """
    bm25 = BM25Retriever.from_texts(
        [embedded_text(doc) for doc in docs], preprocess_func=keyword_terms
    )
    vectorizer = bm25.vectorizer
    floor = vectorizer.epsilon * vectorizer.average_idf
    for word, idf in vectorizer.idf.items():
        if idf <= 0:
            vectorizer.idf[word] = floor
    bm25.docs = docs
    return bm25


def _matches(metadata: dict[str, Any], filter: MetadataFilter) -> bool:
    """Chroma's flat equality filter, applied to one chunk's metadata."""
    return all(metadata.get(key) == value for key, value in filter.items())


def _cosine(query: list[float], vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity of ``query`` to each row of ``vectors``."""
    q = np.asarray(query, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(q) or 1.0)
    return (vectors @ q) / np.where(norms == 0, 1.0, norms)
