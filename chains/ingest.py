"""Ingestion: split documents, embed their chunks in batches, upsert them into Chroma.

Chunk ids are ``<doc_id>:<position>``, so re-indexing a document overwrites its chunks
in place; chunks past the new count are deleted after the upsert, so a reader never
sees the document missing, only the old or the new version of each chunk. A document
without an id gets one from the hash of its content, so the same text is stored once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter
from pydantic import BaseModel, Field, field_validator

MAX_DOCUMENT_CHARS = 2_000_000
"""Largest document accepted (about 500 pages of text); larger ones are refused."""

MetadataValue = str | int | float | bool


class InputDocument(BaseModel):
    """A document to index: text plus flat metadata; the id is optional."""

    id: str | None = Field(None, min_length=1, max_length=256, pattern=r"^[^:\s]+$")
    content: str = Field(..., max_length=MAX_DOCUMENT_CHARS)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must not be empty or whitespace")
        return value

    @property
    def doc_id(self) -> str:
        """The given id, or a stable one derived from the content."""
        return self.id or "sha-" + hashlib.sha256(self.content.encode()).hexdigest()[:16]


def build_splitter(
    chunk_size: int = 800, chunk_overlap: int = 100
) -> RecursiveCharacterTextSplitter:
    """LangChain's recursive splitter: paragraphs, then lines, sentences, words."""
    return RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)


def chunk_document(doc: InputDocument, splitter: RecursiveCharacterTextSplitter) -> list[Document]:
    """Split ``doc`` into chunks whose ids and metadata tie them to the document."""
    texts = splitter.split_text(doc.content)
    return [
        Document(
            id=f"{doc.doc_id}:{position}",
            page_content=text,
            metadata={**doc.metadata, "doc_id": doc.doc_id, "chunk_index": position},
        )
        for position, text in enumerate(texts)
    ]


def upsert_chunks(store: Chroma, doc_id: str, chunks: Sequence[Document]) -> int:
    """Write ``chunks`` (one batched embedding call), then drop the document's stale chunks.

    Returns the number of stale chunks removed.
    """
    new_ids = [chunk.id for chunk in chunks if chunk.id is not None]
    store.add_documents(list(chunks), ids=new_ids)
    existing = store.get(where={"doc_id": doc_id}, include=[])["ids"]
    stale = sorted(set(existing) - set(new_ids))
    if stale:
        store.delete(ids=stale)
    return len(stale)


def delete_document(store: Chroma, doc_id: str) -> int:
    """Remove every chunk of ``doc_id``; returns how many were removed."""
    ids = store.get(where={"doc_id": doc_id}, include=[])["ids"]
    if ids:
        store.delete(ids=ids)
    return len(ids)


def collection_size(store: Chroma) -> int:
    """Number of chunks in the store's collection."""
    return int(store._collection.count())


def index_documents(
    store: Chroma, documents: Iterable[InputDocument], splitter: RecursiveCharacterTextSplitter
) -> dict[str, Any]:
    """Index ``documents`` one after another; returns a summary of chunk counts per id.

    Example:
        >>> index_documents(store, [InputDocument(id="faq", content="...")], build_splitter())
        {'indexed': 1, 'chunks': {'faq': 1}}

    """
    chunks_per_doc: dict[str, int] = {}
    for doc in documents:
        chunks = chunk_document(doc, splitter)
        upsert_chunks(store, doc.doc_id, chunks)
        chunks_per_doc[doc.doc_id] = len(chunks)
    return {"indexed": len(chunks_per_doc), "chunks": chunks_per_doc}
