"""Dependency aliases: how routes reach the objects ``create_app`` built.

They are ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, one
thread hop per request for a dictionary lookup.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, ValidationError

from app.services import Services
from callbacks import StreamRequest
from chains.knowledge_bases import KnowledgeBase, valid_kb_name


async def _get_services(request: Request) -> Services:
    """Read the app's services from ``app.state`` (set by ``create_app``)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_get_services)]



def stream_request(services: Services, body: Any) -> StreamRequest:
    """``body`` as the event stream's input, validated now: a 422 before any event."""
    try:
        return services.event_stream.input_model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from exc


async def open_kb(services: Services, name: str) -> KnowledgeBase:
    """The knowledge base ``name`` names (empty: the default); unknown raises (a 404)."""
    return await asyncio.to_thread(services.kbs.get, name)


KbQuery = Annotated[
    str,
    Query(max_length=63, description="Knowledge base (GET /kbs); empty: the default."),
    AfterValidator(valid_kb_name),
]
"""``?kb=``: the knowledge base a request names; every route takes it."""


def kb_of(in_body: str, in_query: str) -> str:
    """The knowledge base a request names in its JSON body or as ``?kb=``.

    Both doors are open so that no client's ``kb`` is silently ignored; naming two
    different ones is a 422.
    """
    if in_body and in_query and in_body != in_query:
        raise RequestValidationError(
            [
                {
                    "loc": ["query", "kb"],
                    "msg": f"the body names the knowledge base {in_body!r} and the query "
                    f"{in_query!r}; name one",
                    "type": "value_error",
                }
            ]
        )
    return in_body or in_query


async def _kb_from_query(services: ServicesDep, kb: KbQuery = "") -> KnowledgeBase:
    return await open_kb(services, kb)


KnowledgeBaseDep = Annotated[KnowledgeBase, Depends(_kb_from_query)]
"""The knowledge base a ``?kb=`` query parameter names, opened; 404 when there is none."""

_bearer = HTTPBearer(auto_error=False, description="RAG_API_KEY, when one is configured")


async def require_api_key(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let writes through only with ``Authorization: Bearer <RAG_API_KEY>`` when it is set."""
    _check_key(services, credentials)


async def require_read_key(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Guard the question routes with the same key when ``RAG_PROTECT_READS`` is true."""
    if services.settings.protect_reads:
        _check_key(services, credentials)


def _check_key(services: Services, credentials: HTTPAuthorizationCredentials | None) -> None:
    """401 unless the bearer key matches ``RAG_API_KEY`` (when one is set)."""
    expected = services.settings.api_key
    if expected is None:
        return
    given = credentials.credentials if credentials else ""
    if not secrets.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise HTTPException(
            status_code=401,
            detail="a valid API key is required: Authorization: Bearer <RAG_API_KEY>",
            headers={"WWW-Authenticate": "Bearer"},
        )
