"""LangServe routes: the RAG chain, its typed events, and the streaming summarizer.

They are mounted at ``/rag``, ``/rag/events`` and ``/summarize``.

Departure from LangServe's default: LangServe validates the request ``config`` against
a model that ignores unknown keys, so a misspelt option would be dropped silently. The
per-request hook below rejects any key that is not part of ``RunnableConfig`` (and any
``configurable`` field, since the chain declares none) with a 422 naming the key.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from langchain_core.runnables import Runnable, RunnableConfig
from langserve import add_routes

from app.deps import require_read_key

_ALLOWED_CONFIG_KEYS = frozenset(RunnableConfig.__annotations__)


async def reject_unknown_config(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """Fail with 422 when the raw request carries config keys the chain cannot use."""
    try:
        body = await request.json()
    except ValueError:
        return config  # LangServe reports the malformed body itself.
    sent = body.get("config") if isinstance(body, dict) else None
    for item in sent if isinstance(sent, list) else [sent]:
        if not isinstance(item, dict):
            continue
        unknown = [["body", "config", key] for key in item if key not in _ALLOWED_CONFIG_KEYS]
        unknown += [
            ["body", "config", "configurable", key] for key in item.get("configurable") or {}
        ]
        if unknown:
            raise HTTPException(
                status_code=422,
                detail=[
                    {
                        "loc": loc,
                        "msg": f"unknown config key {loc[-1]!r}",
                        "type": "extra_forbidden",
                    }
                    for loc in unknown
                ],
            )
    return config


async def reject_null_config(request: Request) -> None:
    """422 for ``"config": null``, which LangServe 0.3 answers with a 500 (a TypeError)."""
    if request.method != "POST":
        return
    try:
        body = await request.json()  # Starlette keeps it: LangServe reads it again
    except (ValueError, RecursionError):
        return  # LangServe reports the malformed body itself
    if isinstance(body, dict) and "config" in body and not isinstance(body["config"], dict):
        raise HTTPException(
            status_code=422,
            detail=[
                {
                    "loc": ["body", "config"],
                    "msg": "config must be an object (or left out)",
                    "type": "dict_type",
                }
            ],
        )


def add_langserve_routes(app: FastAPI, runnables: dict[str, Runnable[Any, Any]]) -> None:
    """Mount each runnable under its path (``{"/rag": rag_chain, ...}``).

    Every endpoint asks for the API key when ``RAG_PROTECT_READS`` is true.
    """
    for path, runnable in runnables.items():
        add_routes(
            app,
            runnable,
            path=path,
            per_req_config_modifier=reject_unknown_config,
            enable_feedback_endpoint=False,
            dependencies=[Depends(require_read_key), Depends(reject_null_config)],
        )
