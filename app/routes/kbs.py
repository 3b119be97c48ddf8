"""``/kbs``: the knowledge bases, one Chroma collection each; list, create and delete.

Every question, index, upload, summary and document route takes a ``kb`` naming one
(empty: the default, ``RAG_COLLECTION``). Creating and deleting are writes: they ask
for the API key whenever ``RAG_API_KEY`` is set. The default knowledge base cannot be
deleted (409); a name that exists already is a 409 too.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.deps import ServicesDep, require_api_key, require_read_key
from chains.knowledge_bases import valid_kb_name

router = APIRouter(prefix="/kbs", tags=["knowledge bases"])


class CreateRequest(BaseModel):
    """A new knowledge base's name (Chroma's rules for a collection name)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=3, max_length=63), AfterValidator(valid_kb_name)]


@router.get("", dependencies=[Depends(require_read_key)])
async def knowledge_bases(services: ServicesDep) -> dict[str, Any]:
    """Every knowledge base with its chunk count and embedding model, the default first."""
    infos = await asyncio.to_thread(services.kbs.describe)
    return {"kbs": [dataclasses.asdict(info) for info in infos]}


@router.post("", status_code=201, dependencies=[Depends(require_api_key)])
async def create_knowledge_base(body: CreateRequest, services: ServicesDep) -> dict[str, Any]:
    """Create an empty knowledge base; index into it with ``kb`` on the index routes."""
    kb = await asyncio.to_thread(services.kbs.create, body.name)
    return {"name": kb.name, "chunks": 0}


@router.delete(
    "/{name}", status_code=204, response_class=Response, dependencies=[Depends(require_api_key)]
)
async def delete_knowledge_base(
    name: Annotated[str, Path(max_length=63), AfterValidator(valid_kb_name)],
    services: ServicesDep,
) -> Response:
    """Delete a knowledge base and all its documents."""
    await asyncio.to_thread(services.kbs.delete, name)
    return Response(status_code=204)
