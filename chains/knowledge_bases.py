"""Knowledge bases: one Chroma collection each, opened once, chosen per request by name.

A knowledge base is a collection that records the embedding model of its vectors
(:mod:`chains.store`), together with what reads and writes it: the vector, keyword,
widening and hybrid searches and the :class:`~chains.ingest.Ingestor` under the
collection's own write lock. :class:`KnowledgeBases` opens each one at its first use
and keeps it. Every lookup asks Chroma whether the collection is still the one it
opened (one metadata read), so a knowledge base that another process deleted is
reported unknown, and one deleted and created again is opened afresh.

Requests name a knowledge base with ``kb``; the empty name is the default one
(``RAG_COLLECTION``), so clients that never send ``kb`` see no change. Names follow
Chroma's own rules for collection names (:func:`valid_kb_name`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated

import chromadb.errors
from chromadb.api import ClientAPI
from chromadb.api.segment import check_index_name
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings
from langchain_text_splitters import RecursiveCharacterTextSplitter
from pydantic import AfterValidator, Field

from chains.errors import KnowledgeBaseConflictError, KnowledgeBaseNotFoundError
from chains.ingest import Ingestor, repair_interrupted_replacements
from chains.keyword import KeywordRetriever
from chains.progressive import HybridRetriever
from chains.retriever import ScoredRetriever
from chains.store import DIMS_KEY, MODEL_KEY, build_vector_store
from chains.widening import WideningRetriever


def valid_kb_name(name: str) -> str:
    """``name`` if Chroma accepts it as a collection name; the empty name is the default.

    Chroma's rule: 3 to 63 characters of letters, digits, ``_``, ``-`` and ``.``, starting
    and ending with a letter or digit, no ``..``, not an IPv4 address.
    """
    if name:
        check_index_name(name)  # Chroma's own check; its ValueError names the rule
    return name


KbName = Annotated[
    str,
    Field(
        "",
        max_length=63,
        description="The knowledge base to use (GET /kbs lists them); empty: the default one.",
    ),
    AfterValidator(valid_kb_name),
]
"""A request's ``kb`` field: a valid collection name, or empty for the default."""


def kb_not_found(name: str) -> KnowledgeBaseNotFoundError:
    """The error for a knowledge base that does not exist, or that the caller may not read.

    One message for both, so a refusal cannot tell a caller which names exist.
    """
    return KnowledgeBaseNotFoundError(f"no knowledge base is called {name!r}; GET /kbs lists them")


def kb_option(kb: str) -> dict[str, str]:
    """The retriever option naming ``kb``; none for the default, so any retriever serves it."""
    return {"kb": kb} if kb else {}


@dataclass(frozen=True)
class KnowledgeBase:
    """One collection and everything that searches or writes it."""

    name: str
    store: Chroma
    vector: ScoredRetriever
    keyword: KeywordRetriever
    widening: WideningRetriever
    hybrid: HybridRetriever
    ingestor: Ingestor
    lock: AbstractContextManager[object]
    """The collection's write lock, which every writing process takes."""
    collection_id: str


@dataclass(frozen=True)
class SearchOptions:
    """How every knowledge base is searched: the ``RAG_*`` settings of its retrievers."""

    top_k: int = 4
    min_score: float = 0.0
    per_document: int = 0
    """Sources per document (:mod:`chains.diversity`); 0: no cap."""
    title_weight: float = 0.0
    """The document card's share of a hit's score (:mod:`chains.title_boost`)."""
    timeout_s: float | None = None


@dataclass(frozen=True)
class KnowledgeBaseInfo:
    """What ``GET /kbs`` shows of one knowledge base."""

    name: str
    chunks: int
    embedding_model: str
    embedding_dims: int
    default: bool


class KnowledgeBases:
    """The knowledge bases of one Chroma client: open, create, list and delete them.

    Example:
        >>> kbs = KnowledgeBases(client, embeddings, model_name="all-MiniLM-L6-v2",
        ...                      default="streaming_rag", splitter=build_splitter(),
        ...                      lock_for=lambda name: threading.Lock())
        >>> kbs.create("handbook")
        >>> kbs.get("handbook").ingestor  # index into it
        >>> kbs.get("").name  # the default
        'streaming_rag'

    """

    def __init__(
        self,
        client: ClientAPI,
        embeddings: Embeddings,
        *,
        model_name: str,
        default: str,
        splitter: RecursiveCharacterTextSplitter,
        lock_for: Callable[[str], AbstractContextManager[object]],
        search: SearchOptions = SearchOptions(),
        chunk_context: bool = True,
        on_repair: Callable[[str, dict[str, int]], None] | None = None,
    ) -> None:
        self.client = client
        self.embeddings = embeddings
        self.model_name = model_name
        self.default = valid_kb_name(default)
        self.splitter = splitter
        self.lock_for = lock_for
        self.search, self.chunk_context = search, chunk_context
        self.on_repair = on_repair
        self._open: dict[str, KnowledgeBase] = {}
        self._opening = threading.Lock()
        self._open[self.default] = self._build(self.default)

    def get(self, name: str = "") -> KnowledgeBase:
        """The knowledge base called ``name`` (empty: the default), opened at first use.

        Raises:
            KnowledgeBaseNotFoundError: no collection of that name exists.
            chains.errors.EmbeddingMismatchError: its vectors come from another model.

        """
        name = name or self.default
        if name == self.default:
            return self._open[name]  # opened at the start, never deleted by us
        try:
            collection = self.client.get_collection(name)
        except (chromadb.errors.NotFoundError, ValueError) as exc:  # ValueError: older clients
            raise kb_not_found(name) from exc
        with self._opening:
            kb = self._open.get(name)
            if kb is None or kb.collection_id != str(collection.id):
                kb = self._open[name] = self._build(name)
            return kb

    def stored_vectors(self, name: str, ids: Sequence[str]) -> dict[str, Sequence[float]]:
        """The vectors Chroma holds for the chunks ``ids`` of ``name``: no re-embedding."""
        got = self.get(name).store.get(ids=list(ids), include=["embeddings"])
        return dict(zip(got["ids"], got["embeddings"], strict=True))

    def create(self, name: str) -> KnowledgeBase:
        """Create an empty knowledge base.

        Raises:
            KnowledgeBaseConflictError: one of that name exists already.

        """
        valid_kb_name(name)
        with self._opening:
            if name in self._names():
                raise KnowledgeBaseConflictError(f"a knowledge base is called {name!r} already")
            kb = self._open[name] = self._build(name)
            return kb

    def delete(self, name: str) -> None:
        """Delete a knowledge base and every chunk in it, under its write lock.

        Raises:
            KnowledgeBaseConflictError: it is the default knowledge base.
            KnowledgeBaseNotFoundError: none has that name.

        """
        if (name or self.default) == self.default:
            raise KnowledgeBaseConflictError(
                f"{self.default!r} is the default knowledge base (RAG_COLLECTION); "
                "delete its documents instead"
            )
        kb = self.get(name)
        with kb.lock:
            self.client.delete_collection(name)
        with self._opening:
            self._open.pop(name, None)

    def describe(self) -> list[KnowledgeBaseInfo]:
        """Every knowledge base, the default first, then by name."""
        infos = []
        for collection in self.client.list_collections():
            metadata = collection.metadata or {}
            if MODEL_KEY not in metadata:
                continue  # not one of ours: no record of its embedding model
            infos.append(
                KnowledgeBaseInfo(
                    name=collection.name,
                    chunks=collection.count(),
                    embedding_model=str(metadata[MODEL_KEY]),
                    embedding_dims=int(metadata.get(DIMS_KEY, 0)),
                    default=collection.name == self.default,
                )
            )
        return sorted(infos, key=lambda info: (not info.default, info.name))

    def _names(self) -> set[str]:
        return {collection.name for collection in self.client.list_collections()}

    def _build(self, name: str) -> KnowledgeBase:
        """Open (or create) the collection and compose its searches and ingestor."""
        store = build_vector_store(self.client, name, self.embeddings, model_name=self.model_name)
        lock = self.lock_for(name)
        with lock:  # another process may be mid-replacement, which is no crash
            if (repaired := repair_interrupted_replacements(store)) and self.on_repair:
                self.on_repair(name, repaired)
        options = self.search
        vector = ScoredRetriever(
            vectorstore=store,
            k=options.top_k,
            timeout_s=options.timeout_s,
            title_weight=options.title_weight,
        )
        keyword = KeywordRetriever(vectorstore=store, k=options.top_k)
        return KnowledgeBase(
            name=name,
            store=store,
            vector=vector,
            keyword=keyword,
            widening=WideningRetriever(
                vector=vector,
                keyword=keyword,
                min_score=options.min_score,
                per_document=options.per_document,
            ),
            hybrid=HybridRetriever(
                name="hybrid", vector=vector, keyword=keyword, per_document=options.per_document
            ),
            ingestor=Ingestor(store, self.splitter, lock=lock, chunk_context=self.chunk_context),
            lock=lock,
            collection_id=str(store._collection.id),
        )
