"""LangServe routes: the RAG chain, its typed events, and the streaming summarizer.

They are mounted at ``/rag``, ``/rag/events`` and ``/summarize``.

Departure from LangServe's default: LangServe validates the request ``config`` against
a model that ignores unknown keys, so a misspelt option would be dropped silently. The
per-request hook below rejects any key that is not part of ``RunnableConfig`` (and any
``configurable`` field, since the chain declares none) with a 422 naming the key.
Every input's knowledge base (``kb``; none, or a bare string input, is the default one)
is checked against the caller's key before any chunk, as on the hand-written routes: an
unknown one, or one the key may not read, is the same 404. Routes without an input
(schemas, the playground) need a key when reads are protected.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from langchain_core.runnables import Runnable, RunnableConfig
from langserve import add_routes

from app.auth.dependencies import CallerDep, require_reader
from app.deps import ServicesDep, open_kb
from chains.knowledge_bases import valid_kb_name

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


async def authorize_inputs(request: Request, services: ServicesDep, caller: CallerDep) -> None:
    """404 before any chunk for an input whose knowledge base is unknown or not readable.

    An input without ``kb`` (or not an object: the playground's bare string) reads the
    default knowledge base, which is checked too. A name that breaks Chroma's rules, or
    a body that is not JSON, is left to LangServe's validation (a 422).
    """
    if request.method != "POST":
        return
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        return
    if not isinstance(body, dict):
        return
    if "inputs" in body:
        items = body["inputs"] if isinstance(body["inputs"], list) else []
    else:
        items = [body["input"]] if "input" in body else []  # none: token_feedback, or a 422
    for item in items:
        name = item.get("kb", "") if isinstance(item, dict) else ""
        if not isinstance(name, str):
            continue
        try:
            valid_kb_name(name)
        except ValueError:
            continue
        await open_kb(services, caller, name)


async def reject_unusable_body(request: Request) -> None:
    """422 for bodies LangServe 0.3 answers with a 500 (a TypeError or an IndexError).

    ``config`` must be an object or a string (for ``/batch``, also a list with one per
    input), and a ``/batch`` body's ``inputs`` must be a list.
    """
    if request.method != "POST":
        return
    try:
        body = await request.json()  # Starlette keeps it: LangServe reads it again
    except (ValueError, RecursionError):
        return  # LangServe reports the malformed body itself
    if not isinstance(body, dict):
        return
    batch = request.url.path.endswith("/batch")
    problems: list[tuple[str, str]] = []
    if batch and not isinstance(body.get("inputs"), list):
        problems.append(("inputs", "inputs must be a list"))
    config = body.get("config", {})
    if isinstance(config, list):
        inputs = body.get("inputs")
        if not batch or not isinstance(inputs, list) or len(config) != len(inputs):
            problems.append(("config", "a list of configs needs one per input (batch only)"))
    elif not isinstance(config, dict | str):
        problems.append(("config", "config must be an object (or left out)"))
    if problems:
        raise HTTPException(
            status_code=422,
            detail=[
                {"loc": ["body", field], "msg": msg, "type": "value_error"}
                for field, msg in problems
            ],
        )


def add_langserve_routes(app: FastAPI, runnables: dict[str, Runnable[Any, Any]]) -> None:
    """Mount each runnable under its path (``{"/rag": rag_chain, ...}``).

    Every endpoint asks for a key when ``RAG_PROTECT_READS`` is true, and checks each
    input's knowledge base against it (:func:`authorize_inputs`).
    """
    for path, runnable in runnables.items():
        add_routes(
            app,
            runnable,
            path=path,
            per_req_config_modifier=reject_unknown_config,
            enable_feedback_endpoint=False,
            dependencies=[
                Depends(require_reader),
                Depends(reject_unusable_body),
                Depends(authorize_inputs),
            ],
        )
