"""What a document becomes before it is embedded: the input model, its id, its chunks.

Chunk ids are ``<doc_id>:<position>``, so re-indexing a document overwrites its chunks
in place (:mod:`chains.ingest`). A document without an id gets one from the hash of its
content, so the same text is stored once. Each chunk records where it starts in the
document, so :func:`chains.documents.document_text` can put the text back together.
"""

from __future__ import annotations

import hashlib

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter
from pydantic import BaseModel, Field, field_validator

from chains.chunk_context import DocumentContext
from chains.events import MetadataValue

MAX_DOCUMENT_CHARS = 2_000_000
"""Largest document accepted (about 500 pages of text); larger ones are refused."""


class InputDocument(BaseModel):
    """A document to index: text plus flat metadata; the id is optional."""

    id: str | None = Field(None, min_length=1, max_length=256, pattern=r"^[^:\s]+$")
    content: str = Field(..., max_length=MAX_DOCUMENT_CHARS)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)

    @field_validator("content")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty or whitespace")
        if "\x00" in value:
            raise ValueError("is not text (it contains NUL bytes)")
        return value

    @property
    def doc_id(self) -> str:
        """The given id, or a stable one derived from the content."""
        return self.id or content_doc_id(self.content)


def content_doc_id(content: str) -> str:
    """The id of a document sent without one: ``sha-`` and 16 hex digits of its hash."""
    return "sha-" + hashlib.sha256(content.encode()).hexdigest()[:16]


def build_splitter(
    chunk_size: int = 800, chunk_overlap: int = 100
) -> RecursiveCharacterTextSplitter:
    """LangChain's recursive splitter: paragraphs, then lines, sentences, words.

    Departures from its defaults, so that :func:`~chains.documents.document_text` can
    put a document back together exactly: each chunk records its ``start_index``, and
    keeps the whitespace at its edges (``strip_whitespace=False``), so the chunks tile
    the text with no gaps.
    The prompt and the ``source`` events strip that whitespace.
    """
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        add_start_index=True,
        strip_whitespace=False,
    )


def chunk_document(
    doc: InputDocument, splitter: RecursiveCharacterTextSplitter, *, context: bool = True
) -> list[Document]:
    """Split ``doc`` into chunks whose ids and metadata tie them to the document.

    With ``context``, each chunk's ``context`` metadata holds the header it is embedded
    and keyword-indexed with: its document's title, the headings above it and the
    document's summary line (:mod:`chains.chunk_context`).
    A piece that is only whitespace (a document's trailing newlines) is not a chunk.
    """
    pieces = [p for p in splitter.create_documents([doc.content]) if p.page_content.strip()]
    about = DocumentContext(doc.content, doc.metadata) if context else None
    return [
        Document(
            id=f"{doc.doc_id}:{position}",
            page_content=piece.page_content,
            metadata={
                **doc.metadata,
                **piece.metadata,
                "doc_id": doc.doc_id,
                "chunk_index": position,
                **({"context": about.header(_text_start(piece))} if about else {}),
            },
        )
        for position, piece in enumerate(pieces)
    ]


def _text_start(piece: Document) -> int:
    """Where a piece's text starts, past its edge whitespace: at a heading it begins with."""
    text = piece.page_content
    return int(piece.metadata["start_index"]) + len(text) - len(text.lstrip())
