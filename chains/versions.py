"""Versions of a document: how readers stay consistent without a lock.

Every write of a document is one version: all its chunks carry the same ``indexed_at``
stamp (nanoseconds) and go to Chroma in one upsert. Re-indexing overwrites the chunks
``<doc_id>:0..n-1`` in place and then deletes the old version's extra chunks, so between
the two writes the collection holds chunks of both versions. A reader in any process
(another API worker, the CLI) may look at that moment; :func:`newest_only` keeps, of
each document, only the chunks of the newest version among those it got, so no answer,
keyword index or rebuilt text ever mixes two versions of one document. A search during a
replacement may therefore return fewer than ``k`` hits of that document, never a blend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.documents import Document

VERSION_KEY = "indexed_at"

T = TypeVar("T")


def version_of(metadata: Mapping[str, Any] | None) -> int:
    """A chunk's version stamp; chunks written before stamps were kept count as oldest."""
    stamp = (metadata or {}).get(VERSION_KEY)
    return stamp if isinstance(stamp, int) else -1


def doc_id_of(chunk_id: str, metadata: Mapping[str, Any] | None) -> str:
    """The document a chunk belongs to: its ``doc_id``, else its id's prefix."""
    return str((metadata or {}).get("doc_id", chunk_id.rsplit(":", 1)[0]))


def newest_versions(chunks: Iterable[tuple[str, Mapping[str, Any] | None]]) -> dict[str, int]:
    """The newest version seen of each document, from ``(chunk id, metadata)`` pairs."""
    newest: dict[str, int] = {}
    for chunk_id, metadata in chunks:
        doc_id, version = doc_id_of(chunk_id, metadata), version_of(metadata)
        newest[doc_id] = max(version, newest.get(doc_id, version))
    return newest


def newest_only(items: Sequence[T], chunk: Callable[[T], Document]) -> list[T]:
    """``items`` in order, less those whose ``chunk`` is of a superseded version.

    ``chunk`` finds the chunk in an item: a search hit and its distance, or a row.

    Example:
        >>> newest_only(hits, chunk=lambda hit: hit[0])  # (Document, distance) pairs

    """
    chunks = [chunk(item) for item in items]
    newest = newest_versions((str(c.id), c.metadata) for c in chunks)
    return [
        item
        for item, c in zip(items, chunks, strict=True)
        if version_of(c.metadata) == newest[doc_id_of(str(c.id), c.metadata)]
    ]
