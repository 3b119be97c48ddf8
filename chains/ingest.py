"""Ingestion: split documents, embed each one's chunks in one batch, upsert into Chroma.

Chunk ids are ``<doc_id>:<position>``, so re-indexing a document overwrites its chunks
in place, and chunks past the new count are deleted right after, under the write lock
(:mod:`chains.write_lock`), which every writing process takes. Readers take no lock:
each write is one version (:mod:`chains.versions`) and they keep only the newest one
they see. What a document becomes before it is written (its id, its chunks) is
:mod:`chains.chunking`. Embedding (the slow part) runs before the lock is taken.

A crash (kill -9) between a replacement's two writes would leave a document half new
and half stale. Every chunk therefore records when its version was written
(``indexed_at``, nanoseconds), and :func:`repair_interrupted_replacements`, run when the
store is opened, deletes the chunks of a document that are older than its newest
version. One Chroma upsert holds a whole version, so the newest one is complete.

:class:`Ingestor` is the one pipeline: ``POST /index``, ``/index/sse``, the CLI, the
sample knowledge base at ``serve`` and the notebook all run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

from chains.chunk_context import embedded_text
from chains.chunking import InputDocument, chunk_document
from chains.errors import DocumentNotFoundError, IndexingError, error_event_for
from chains.ingest_events import (
    DocErrorEvent,
    DocStageEvent,
    IngestEvent,
    PipelineDoneEvent,
    PipelineStartEvent,
)
from chains.store import mark_changed
from chains.versions import VERSION_KEY, doc_id_of, newest_versions, version_of


def replace_document(
    store: Chroma,
    doc_id: str,
    chunks: Sequence[Document],
    vectors: Sequence[Sequence[float]],
    lock: AbstractContextManager[object] | None = None,
) -> int:
    """Write a document's chunks with precomputed vectors, then drop its stale chunks.

    Both writes happen under the write ``lock``, so no other writer's stale-chunk step
    runs between them. The version is stamped here, under the lock, and is newer than
    any the document has (whatever the writers' clocks), so the last writer's version is
    the newest; readers keep the newest one they see. Returns the stale count.
    """
    with lock or contextlib.nullcontext():
        existing = store.get(where={"doc_id": doc_id}, include=["metadatas"])
        older = [version_of(meta) for meta in existing["metadatas"] or []]
        version = max([time.time_ns(), *(stamp + 1 for stamp in older)])
        if chunks:
            store._collection.upsert(  # langchain-chroma has no upsert-with-vectors
                ids=[str(c.id) for c in chunks],
                embeddings=list(vectors),
                documents=[c.page_content for c in chunks],
                metadatas=[{**c.metadata, VERSION_KEY: version} for c in chunks],
            )
        new_ids = {str(c.id) for c in chunks}
        stale = sorted(set(existing["ids"]) - new_ids)
        if stale:
            store.delete(ids=stale)
        mark_changed(store)
    return len(stale)


def repair_interrupted_replacements(store: Chroma) -> dict[str, int]:
    """Delete the stale chunks a crash left behind; returns how many, per document.

    A document whose chunks carry two ``indexed_at`` versions was being replaced when
    the process died after writing the new version but before deleting the old one's
    extra chunks. The newest version was written in one upsert, so it is whole; the
    older chunks go. Chunks written before versions were recorded count as oldest.
    """
    found = store.get(include=["metadatas"])
    chunks = list(zip(found["ids"], found["metadatas"] or [], strict=True))
    newest = newest_versions(chunks)
    stale: dict[str, list[str]] = {}
    for chunk_id, metadata in chunks:
        doc_id = doc_id_of(chunk_id, metadata)
        if version_of(metadata) != newest[doc_id]:
            stale.setdefault(doc_id, []).append(chunk_id)
    for ids in stale.values():
        store.delete(ids=ids)
    return {doc_id: len(ids) for doc_id, ids in stale.items()}


def delete_documents(
    store: Chroma,
    doc_ids: Sequence[str],
    lock: AbstractContextManager[object] | None = None,
    *,
    missing_ok: bool = True,
) -> dict[str, int]:
    """Remove every chunk of each document; returns how many chunks each one had.

    All in one write under the ``lock``, stamped as a change, so keyword search
    rebuilds at its next question in every process. An answer already streaming keeps
    the sources it was sent.

    Raises:
        DocumentNotFoundError: ``missing_ok`` is false and a document has no chunks;
            nothing is deleted then.

    """
    wanted = list(dict.fromkeys(doc_ids))
    with lock or contextlib.nullcontext():
        found = store.get(where={"doc_id": {"$in": wanted}}, include=["metadatas"])  # type: ignore[dict-item]
        counts = dict.fromkeys(wanted, 0)
        for chunk_id, metadata in zip(found["ids"], found["metadatas"] or [], strict=True):
            counts[doc_id_of(chunk_id, metadata)] += 1
        missing = [doc_id for doc_id, count in counts.items() if count == 0]
        if missing and not missing_ok:
            raise DocumentNotFoundError(
                f"no indexed document has the id {', '.join(map(repr, missing))}; "
                "nothing was deleted"
            )
        if found["ids"]:
            store.delete(ids=found["ids"])
            mark_changed(store)
    return counts


def collection_size(store: Chroma) -> int:
    """Number of chunks in the store's collection."""
    return int(store._collection.count())


class Ingestor:
    """Index documents while streaming each one's progress as typed events.

    Per document: ``received`` → ``chunked`` → ``embedding`` → ``embedded`` →
    ``indexing`` → ``ready``, or ``doc_error`` with the reason; one bad document never
    stops the others. A document is ``ready`` only after all its chunks are written. A
    failure of the run as a whole (the store is gone) ends it with one ``error`` event.

    Example:
        >>> lock = collection_write_lock("streaming_rag", directory=Path("./data"))
        >>> ingestor = Ingestor(store, build_splitter(), lock=lock)
        >>> async for event in ingestor.run([{"id": "faq", "content": "..."}]):
        ...     print(event.type, getattr(event, "stage", ""))

    """

    def __init__(
        self,
        store: Chroma,
        splitter: RecursiveCharacterTextSplitter,
        *,
        lock: AbstractContextManager[object] | None = None,
        chunk_context: bool = True,
    ) -> None:
        if store.embeddings is None:
            raise ValueError("the vector store needs an embedding function to ingest")
        self.store = store
        self.embeddings = store.embeddings
        self.splitter = splitter
        self.lock = lock
        self.chunk_context = chunk_context  # embed chunks with their document's header

    async def run(self, documents: Sequence[Any]) -> AsyncIterator[IngestEvent]:
        """Yield the events of indexing ``documents``.

        Each is a dict, an :class:`InputDocument`, or a function without arguments that
        loads one (an uploaded file). That function is called in a thread when its turn
        comes, so a file that fails to load is its own ``doc_error`` and the others are
        still indexed.
        """
        started = time.perf_counter()
        indexed = failed = 0
        try:
            yield PipelineStartEvent(total_docs=len(documents))
            for index, raw in enumerate(documents):
                doc_id = _given_id(raw)
                try:
                    if callable(raw):
                        raw = await asyncio.to_thread(raw)
                    doc = InputDocument.model_validate(raw)
                    doc_id = doc.doc_id
                    async for event in self._index_one(doc, index):
                        yield event
                    indexed += 1
                except Exception as exc:  # one document's failure must not stop the run
                    failed += 1
                    yield DocErrorEvent(
                        doc_id=doc_id, index=index, error=error_event_for(exc).message
                    )
            size = await asyncio.to_thread(collection_size, self.store)
        except Exception as exc:  # the run itself failed: one error event, then the end
            yield error_event_for(exc)
            return
        yield PipelineDoneEvent(
            indexed=indexed,
            failed=failed,
            collection_size=size,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    async def remove(self, doc_ids: Sequence[str], *, missing_ok: bool = True) -> dict[str, int]:
        """Delete every chunk of each document; returns how many each had.

        Raises:
            DocumentNotFoundError: ``missing_ok`` is false and one is not indexed.

        """
        return await asyncio.to_thread(
            functools.partial(delete_documents, missing_ok=missing_ok),
            self.store,
            doc_ids,
            self.lock,
        )

    async def _index_one(self, doc: InputDocument, index: int) -> AsyncIterator[DocStageEvent]:
        """The stages of one document, each reported as it is reached."""
        stage = functools.partial(DocStageEvent, doc_id=doc.doc_id, index=index)
        yield stage(stage="received")
        chunks = chunk_document(doc, self.splitter, context=self.chunk_context)
        yield stage(stage="chunked", num_chunks=len(chunks))
        yield stage(stage="embedding", num_chunks=len(chunks))
        try:
            vectors = await asyncio.to_thread(
                self.embeddings.embed_documents, [embedded_text(c) for c in chunks]
            )
        except Exception as exc:
            raise IndexingError("the embedding model failed on this document") from exc
        yield stage(stage="embedded", dims=len(vectors[0]))
        yield stage(stage="indexing", num_chunks=len(chunks))
        try:
            stale = await asyncio.to_thread(
                replace_document, self.store, doc.doc_id, chunks, vectors, self.lock
            )
        except Exception as exc:
            if _is_unwritable(exc):
                raise IndexingError(
                    "the vector store's files cannot be written (read-only?); "
                    "this document was not written"
                ) from exc
            raise IndexingError("the vector store could not write this document") from exc
        yield stage(stage="ready", num_chunks_indexed=len(chunks), stale_removed=stale)


def _is_unwritable(exc: Exception) -> bool:
    """Whether Chroma failed because its SQLite files cannot be written (read-only disk)."""
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "unable to open database file" in text


def _given_id(raw: Any) -> str | None:
    """The id a request gave a document that may not validate (for its ``doc_error``)."""
    value = raw.get("id") if isinstance(raw, dict) else getattr(raw, "id", None)
    return value if isinstance(value, str) else None
