"""``/kbs``: the knowledge bases, one Chroma collection each; list, create and delete.

Every question, index, upload, summary and document route takes a ``kb`` naming one
(empty: the default, ``RAG_COLLECTION``). ``GET /kbs`` lists only the knowledge bases
the caller's key may read, each with what it may do there (``access``). Creating and
deleting need an admin key once keys are configured. The default knowledge base cannot
be deleted (409); a name that exists already is a 409 too.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.auth.dependencies import CallerDep, require_admin, require_reader
from app.deps import ServicesDep
from chains.knowledge_bases import valid_kb_name

router = APIRouter(prefix="/kbs", tags=["knowledge bases"])


class CreateRequest(BaseModel):
    """A new knowledge base's name (Chroma's rules for a collection name)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=3, max_length=63), AfterValidator(valid_kb_name)]


@router.get("", dependencies=[Depends(require_reader)])
async def knowledge_bases(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """The knowledge bases the caller may read, with chunk counts and embedding models.

    The default comes first; ``access`` says what the caller may do with each one.
    """
    infos = await asyncio.to_thread(services.kbs.describe)
    access = services.access
    return {
        "kbs": [
            {**dataclasses.asdict(info), "access": access.actions(caller, info.name)}
            for info in infos
            if access.may_read(caller, info.name)
        ]
    }


@router.post("", status_code=201, dependencies=[Depends(require_admin)])
async def create_knowledge_base(body: CreateRequest, services: ServicesDep) -> dict[str, Any]:
    """Create an empty knowledge base; index into it with ``kb`` on the index routes."""
    kb = await asyncio.to_thread(services.kbs.create, body.name)
    return {"name": kb.name, "chunks": 0}


@router.delete(
    "/{name}", status_code=204, response_class=Response, dependencies=[Depends(require_admin)]
)
async def delete_knowledge_base(
    name: Annotated[str, Path(max_length=63), AfterValidator(valid_kb_name)],
    services: ServicesDep,
) -> Response:
    """Delete a knowledge base and all its documents."""
    await asyncio.to_thread(services.kbs.delete, name)
    return Response(status_code=204)
