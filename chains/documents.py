"""The documents of a knowledge base, as its user curates them: listed, searched, opened.

Chroma stores chunks, not documents, so a document is the chunks that share its
``doc_id``, of their newest version (:mod:`chains.versions`, so a listing taken during
a replacement shows the document once, whole). Its metadata is what it was indexed
with: a chunk's metadata less the keys ingestion adds to each chunk. Its characters are
the length of its text put back together (:func:`document_text`), read
off the chunks' offsets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from langchain_chroma import Chroma

from chains.chunking import InputDocument
from chains.events import MetadataValue
from chains.versions import VERSION_KEY, doc_id_of, newest_versions, version_of

CHUNK_KEYS = frozenset({"doc_id", "chunk_index", "start_index", "context", VERSION_KEY})
"""Metadata ingestion writes on each chunk; the rest is the document's own."""


@dataclass(frozen=True)
class DocumentChunk:
    """One chunk of a document, in order."""

    id: str
    chunk_index: int
    start_index: int | None
    text: str


@dataclass(frozen=True)
class DocumentInfo:
    """One document of a listing."""

    id: str
    source: str | None
    title: str | None
    metadata: dict[str, MetadataValue]
    num_chunks: int
    characters: int
    indexed_at: str | None
    """When its current version was written (ISO 8601, UTC); None before stamps were kept."""


@dataclass(frozen=True)
class DocumentDetail(DocumentInfo):
    """A document opened: its listing, its chunks and its text put back together."""

    chunks: list[DocumentChunk] = field(default_factory=list)
    text: str = ""


@dataclass(frozen=True)
class DocumentPage:
    """One page of a listing, and how many documents matched in all."""

    total: int
    page: int
    page_size: int
    documents: list[DocumentInfo]


def list_documents(
    store: Chroma, *, query: str = "", page: int = 1, page_size: int = 50
) -> DocumentPage:
    """The documents whose id or source contains ``query`` (any case), by id, one page.

    Example:
        >>> list_documents(store, query="faq", page=1, page_size=20).documents[0].id
        'faq-streaming'

    """
    grouped = _current_chunks(store)
    needle = query.casefold()
    documents = [
        _info(doc_id, chunks)
        for doc_id, chunks in sorted(grouped.items())
        if needle in doc_id.casefold() or needle in str(chunks[0][0].get("source", "")).casefold()
    ]
    start = (page - 1) * page_size
    return DocumentPage(len(documents), page, page_size, documents[start : start + page_size])


def _current_chunks(store: Chroma) -> dict[str, list[tuple[Mapping[str, Any], str]]]:
    """Each document's ``(metadata, text)`` chunks of its newest version, by document id."""
    found = store.get(include=["metadatas", "documents"])
    rows = list(zip(found["ids"], found["metadatas"] or [], found["documents"] or [], strict=True))
    newest = newest_versions((chunk_id, metadata) for chunk_id, metadata, _ in rows)
    grouped: dict[str, list[tuple[Mapping[str, Any], str]]] = {}
    for chunk_id, metadata, text in rows:
        doc_id = doc_id_of(chunk_id, metadata)
        if version_of(metadata) == newest[doc_id]:
            grouped.setdefault(doc_id, []).append((metadata, text or ""))
    return grouped


def stored_documents(store: Chroma) -> list[InputDocument]:
    """Every indexed document as it was given: text rebuilt from its chunks, its metadata.

    What ``streaming-rag ingest --reindex`` indexes again, so chunks written before
    headers (:mod:`chains.chunk_context`) or with another chunk size are rebuilt without
    the original files.
    """
    return [
        InputDocument(
            id=doc_id,
            content=assemble_text([(text, metadata) for metadata, text in chunks]),
            metadata={k: v for k, v in chunks[0][0].items() if k not in CHUNK_KEYS},
        )
        for doc_id, chunks in sorted(_current_chunks(store).items())
    ]


def count_documents(store: Chroma) -> int:
    """How many documents the store holds (reads the chunks' metadata, not their text)."""
    found = store.get(include=["metadatas"])
    return len(newest_versions(zip(found["ids"], found["metadatas"] or [], strict=True)))


def show_document(store: Chroma, doc_id: str) -> DocumentDetail | None:
    """The document's listing, chunks (in order) and text; None if it is not indexed."""
    found = store.get(where={"doc_id": doc_id}, include=["metadatas", "documents"])
    rows = list(zip(found["ids"], found["metadatas"] or [], found["documents"] or [], strict=True))
    if not rows:
        return None
    newest = max(version_of(metadata) for _, metadata, _ in rows)
    current = sorted(
        (row for row in rows if version_of(row[1]) == newest),
        key=lambda row: int(row[1].get("chunk_index", 0)),
    )
    info = _info(doc_id, [(metadata, text or "") for _, metadata, text in current])
    chunks = [
        DocumentChunk(
            id=chunk_id,
            chunk_index=int(metadata.get("chunk_index", position)),
            start_index=_offset(metadata),
            text=text or "",
        )
        for position, (chunk_id, metadata, text) in enumerate(current)
    ]
    text = assemble_text([(text or "", metadata) for _, metadata, text in current])
    return DocumentDetail(**vars(info), chunks=chunks, text=text)


def _info(doc_id: str, chunks: Sequence[tuple[Mapping[str, Any], str]]) -> DocumentInfo:
    """A document's listing from its current chunks' metadata and texts."""
    metadata = {k: v for k, v in chunks[0][0].items() if k not in CHUNK_KEYS}
    version = version_of(chunks[0][0])
    return DocumentInfo(
        id=doc_id,
        source=_text(metadata.get("source")),
        title=_text(metadata.get("title")),
        metadata=metadata,
        num_chunks=len(chunks),
        characters=max(_end(meta, text) for meta, text in chunks),
        indexed_at=(
            datetime.fromtimestamp(version / 1e9, UTC).isoformat(timespec="milliseconds")
            if version >= 0
            else None
        ),
    )


def _end(metadata: Mapping[str, Any], text: str) -> int:
    """Where a chunk ends in its document's text (its length, without an offset)."""
    return (_offset(metadata) or 0) + len(text)


def _offset(metadata: Mapping[str, Any]) -> int | None:
    start = metadata.get("start_index")
    return start if isinstance(start, int) and start >= 0 else None


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def document_text(store: Chroma, doc_id: str) -> str | None:
    """The text of an indexed document, rebuilt from its chunks; None if there are none.

    Chunks are laid at their ``start_index``, so the text they overlap on appears once
    and the result is the text that was indexed (less a whitespace-only tail, which is
    not indexed). Chunks indexed before offsets were recorded are joined by a blank
    line, overlaps and all: index such a document again to rebuild it exactly. Read
    mid-replacement, it is the new version (written whole, in one upsert).
    """
    found = store.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
    if not found["ids"]:
        return None
    pairs = list(zip(found["documents"] or [], found["metadatas"] or [], strict=True))
    newest = max(version_of(meta) for _, meta in pairs)
    return assemble_text([(content, meta) for content, meta in pairs if version_of(meta) == newest])


def assemble_text(chunks: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """One version's ``(text, metadata)`` chunks put back together (see :func:`document_text`)."""
    text = ""
    for content, metadata in sorted(chunks, key=lambda chunk: int(chunk[1].get("chunk_index", 0))):
        start = metadata.get("start_index")
        if not isinstance(start, int) or start < 0:  # no offset, or the splitter lost it
            start = len(text) + 2 if text else 0
        text = text[:start].ljust(start, "\n") + content
    return text
