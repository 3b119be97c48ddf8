"""``GET /health``: liveness plus readiness (collection size, LLM, embeddings)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import ServicesDep
from chains.ingest import collection_size

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    """Report what the service can do right now; 503 while the LLM is unreachable."""
    settings = services.settings
    base_url = settings.effective_llm_base_url or "https://api.openai.com/v1"
    reachable = await _llm_reachable(base_url)
    body: dict[str, Any] = {
        "status": "ok" if reachable else "degraded",
        "collection": {"name": settings.collection, "count": collection_size(services.store)},
        "llm": {"base_url": base_url, "model": settings.llm_model, "reachable": reachable},
        "embeddings": {
            "provider": settings.embeddings,
            "loaded": True,
            "dims": services.embedding_dims,
        },
    }
    return JSONResponse(body, status_code=200 if reachable else 503)


async def _llm_reachable(base_url: str) -> bool:
    """Whether the OpenAI-compatible server answers at all (any HTTP status counts)."""
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            await client.get(f"{base_url}/models")
    except httpx.HTTPError:
        return False
    return True
