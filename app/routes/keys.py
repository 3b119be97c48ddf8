"""``/keys``: create, list and revoke scoped API keys; admin keys only.

``POST /keys`` answers the new key's secret once (``key``); the store keeps only its
digest. ``GET /keys`` lists every key without secrets; ``DELETE /keys/{id}`` revokes one,
and every worker refuses it on its next request. With no key configured at all these
routes still need one: make the first with ``streaming-rag keys create`` or set
``RAG_API_KEY``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response

from app.auth.dependencies import CallerDep, require_admin_key
from app.auth.keys import Grants
from app.auth.store import issue_key
from app.deps import ServicesDep

router = APIRouter(prefix="/keys", tags=["keys"], dependencies=[Depends(require_admin_key)])

_log = logging.getLogger("streaming_rag.keys")


@router.post("", status_code=201)
async def create_key(body: Grants, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Make a key with these grants; ``key`` is its secret, shown this once."""
    made = await issue_key(services.access.store, body)
    _log.info("key %s (%s) created by %s", made["id"], made["name"], caller.identity)
    return made


@router.get("")
async def list_keys(services: ServicesDep) -> dict[str, Any]:
    """Every key with its grants, oldest first; never a secret."""
    return {"keys": [record.public() for record in await services.access.store.all()]}


@router.delete("/{key_id}", status_code=204, response_class=Response)
async def revoke_key(
    key_id: Annotated[str, Path(max_length=64)], services: ServicesDep, caller: CallerDep
) -> Response:
    """Revoke a key: every worker refuses it from its next request on."""
    if not await services.access.store.remove(key_id):
        raise HTTPException(404, f"no key has the id {key_id!r}; GET /keys lists them")
    _log.info("key %s revoked by %s", key_id, caller.identity)
    return Response(status_code=204)
