"""``GET /health``, ``/health/live``, ``/health/ready``: what the service can do right now.

``/health/live`` only says the process answers (for a restart probe). ``/health/ready``
checks each dependency (for a load balancer): the store, the embedding model, the LLM
and the circuit breaker in front of it; 503 while any of them fails. ``/health`` is the
summary people read: the collection, the LLM's engine and the embedding model.

Each dependency is checked for real on every call: the LLM server must answer, and the
embedding model must embed a probe sentence. When the LLM is llama.cpp's
``llama-server`` (the local engine, or one a user points at), its ``/props`` says how
many parallel slots it has and which model file it serves.
"""

from __future__ import annotations

import asyncio
import os
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
    llm, dims = await asyncio.gather(_llm_status(base_url), _embedding_dims(services.embeddings))
    healthy = llm["reachable"] and dims is not None
    body: dict[str, Any] = {
        "status": "ok" if healthy else "degraded",
        "collection": {"name": settings.collection, "count": collection_size(services.store)},
        "llm": {"base_url": base_url, "model": settings.llm_model, **llm},
        "embeddings": {"provider": settings.embeddings, "loaded": dims is not None, "dims": dims},
        "worker": {"pid": os.getpid()},  # which of several workers answered
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/health/live")
async def health_live() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "alive"}


@router.get("/health/ready")
async def health_ready(services: ServicesDep) -> JSONResponse:
    """Each dependency's state; 200 only when every one can serve an answer."""
    base_url = services.settings.effective_llm_base_url or "https://api.openai.com/v1"
    llm, dims, breaker = await asyncio.gather(
        _llm_status(base_url), _embedding_dims(services.embeddings), services.breaker.state()
    )
    try:
        store: dict[str, Any] = {
            "ok": True,
            "count": await asyncio.to_thread(collection_size, services.store),
        }
    except Exception:  # any store failure means no search can run
        store = {"ok": False, "count": None}
    store["server"] = services.settings.chroma_host is not None
    checks = {
        "store": store,
        "embeddings": {"ok": dims is not None, "dims": dims},
        "llm": {"ok": llm["reachable"], "base_url": base_url},
        "breaker": {"ok": breaker != "opened", "state": breaker},
    }
    if services.resumable is not None:
        buffer = services.resumable.buffer
        checks["resume_buffer"] = {
            "ok": await buffer.ping(),
            "redis": services.settings.redis_url is not None,
        }
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


async def _llm_status(base_url: str) -> dict[str, Any]:
    """Whether the OpenAI-compatible server answers, and the engine facts it publishes."""
    status: dict[str, Any] = {"reachable": False, "engine": None, "slots": None, "model_file": None}
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            await client.get(f"{base_url}/models")  # any HTTP status means it is up
            status["reachable"] = True
            props = await client.get(f"{base_url.removesuffix('/v1')}/props")
    except httpx.HTTPError:
        return status
    try:
        info = props.json() if props.status_code == 200 else {}
    except ValueError:  # not llama.cpp: some other server's page
        info = {}
    if isinstance(info, dict) and "total_slots" in info:
        status.update(
            engine="llama-server", slots=info["total_slots"], model_file=info.get("model_path")
        )
    return status


async def _embedding_dims(embeddings: Embeddings) -> int | None:
    """The size of a probe's vector, or ``None`` when the model cannot embed it."""
    try:
        vector = await asyncio.to_thread(embeddings.embed_query, _PROBE)
    except Exception:  # any failure means the model cannot serve questions
        return None
    return len(vector) or None
