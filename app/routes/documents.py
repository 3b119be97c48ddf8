"""``/documents``: list, search, open and delete the documents of a knowledge base.

Every route takes ``?kb=`` (empty: the default knowledge base; unknown, or not
readable with the caller's key: the same 404). Reads need a key with read on the
knowledge base when ``RAG_PROTECT_READS`` is true; deletes, as every write, a key with
write on it once keys are configured. A delete removes all of a document's
chunks in one write under the collection's write lock, so the next answer in any
process finds none of them, by vector or by keyword; an answer already streaming keeps
the sources it was sent. An unknown id is a 404 and nothing is deleted.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from app.deps import ReadableKbDep, WritableKbDep
from chains.documents import list_documents, show_document
from chains.errors import DocumentNotFoundError
from chains.ingest import collection_size

router = APIRouter(prefix="/documents", tags=["documents"])

MAX_PAGE_SIZE = 500
MAX_DELETE_IDS = 1000


class DeleteRequest(BaseModel):
    """The documents to delete, by id."""

    ids: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        ..., min_length=1, max_length=MAX_DELETE_IDS
    )


@router.get("")
async def documents(
    kb: ReadableKbDep,
    q: Annotated[str, Query(max_length=256, description="Part of an id or source.")] = "",
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> dict[str, Any]:
    """The documents whose id or source contains ``q``, by id, one page at a time."""
    listing = await asyncio.to_thread(
        list_documents, kb.store, query=q, page=page, page_size=page_size
    )
    return {"kb": kb.name, **dataclasses.asdict(listing)}


@router.get("/{doc_id}")
async def document(doc_id: str, kb: ReadableKbDep) -> dict[str, Any]:
    """One document: its metadata, its chunks in order and its text put back together."""
    detail = await asyncio.to_thread(show_document, kb.store, doc_id)
    if detail is None:
        raise DocumentNotFoundError(
            f"no indexed document has the id {doc_id!r} in the knowledge base {kb.name!r}"
        )
    return {"kb": kb.name, **dataclasses.asdict(detail)}


@router.delete("/{doc_id}")
async def delete_document(doc_id: str, kb: WritableKbDep) -> dict[str, Any]:
    """Delete one document's chunks; 404 when it is not indexed."""
    return await _delete(kb, [doc_id])


@router.delete("")
async def delete_documents(body: DeleteRequest, kb: WritableKbDep) -> dict[str, Any]:
    """Delete several documents at once; 404 naming those not indexed, deleting none."""
    return await _delete(kb, body.ids)


async def _delete(kb: WritableKbDep, doc_ids: list[str]) -> dict[str, Any]:
    removed = await kb.ingestor.remove(doc_ids, missing_ok=False)
    return {
        "kb": kb.name,
        "deleted": [{"doc_id": doc_id, "num_chunks": count} for doc_id, count in removed.items()],
        "collection_size": await asyncio.to_thread(collection_size, kb.store),
    }
