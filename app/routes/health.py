"""``GET /health``: what the service can do right now (collection, LLM, embedding model).

Each dependency is checked for real on every call: the LLM server must answer, and the
embedding model must embed a probe sentence.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from langchain_core.embeddings import Embeddings

from app.deps import ServicesDep
from chains.ingest import collection_size

router = APIRouter(tags=["operations"])

_PROBE = "health probe"


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    """Report each dependency; 503 and ``degraded`` while the LLM or embeddings fail."""
    settings = services.settings
    base_url = settings.effective_llm_base_url or "https://api.openai.com/v1"
    reachable, dims = await asyncio.gather(
        _llm_reachable(base_url), _embedding_dims(services.embeddings)
    )
    healthy = reachable and dims is not None
    body: dict[str, Any] = {
        "status": "ok" if healthy else "degraded",
        "collection": {"name": settings.collection, "count": collection_size(services.store)},
        "llm": {"base_url": base_url, "model": settings.llm_model, "reachable": reachable},
        "embeddings": {"provider": settings.embeddings, "loaded": dims is not None, "dims": dims},
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


async def _llm_reachable(base_url: str) -> bool:
    """Whether the OpenAI-compatible server answers at all (any HTTP status counts)."""
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            await client.get(f"{base_url}/models")
    except httpx.HTTPError:
        return False
    return True


async def _embedding_dims(embeddings: Embeddings) -> int | None:
    """The size of a probe's vector, or ``None`` when the model cannot embed it."""
    try:
        vector = await asyncio.to_thread(embeddings.embed_query, _PROBE)
    except Exception:  # any failure means the model cannot serve questions
        return None
    return len(vector) or None
