"""Dependency aliases: how routes reach the objects ``create_app`` built.

They are ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, one
thread hop per request for a dictionary lookup.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, ValidationError

from app.auth.dependencies import CallerDep
from app.auth.principal import Action, Principal
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


async def open_kb(
    services: Services, caller: Principal, name: str, action: Action = "read"
) -> KnowledgeBase:
    """The knowledge base ``name`` names (empty: the default), if ``caller`` may ``action`` it.

    The access check comes first, so a refused caller never reaches the store; one it
    may not read gets the same 404 as an unknown name.
    """
    services.access.check(caller, action, name)
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


async def _readable_kb(services: ServicesDep, caller: CallerDep, kb: KbQuery = "") -> KnowledgeBase:
    return await open_kb(services, caller, kb, "read")


async def _writable_kb(services: ServicesDep, caller: CallerDep, kb: KbQuery = "") -> KnowledgeBase:
    return await open_kb(services, caller, kb, "write")


ReadableKbDep = Annotated[KnowledgeBase, Depends(_readable_kb)]
"""The knowledge base ``?kb=`` names, opened if the caller may read it; else a 404."""

WritableKbDep = Annotated[KnowledgeBase, Depends(_writable_kb)]
"""The knowledge base ``?kb=`` names, opened if the caller may write it (401/403/404)."""
