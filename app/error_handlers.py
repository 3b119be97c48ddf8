"""The app's answers to errors raised before a response starts: 4xx, documented shape.

Every 422 has FastAPI's documented form, ``{"detail": [{"loc", "msg", "type"}]}``.
A resume buffer or key store (Redis) that does not answer is a 503 with its message,
on every route.
An unknown document or knowledge base is a 404, and a knowledge base that exists
already (or is the default one, for a delete) a 409, each with our message.

LangServe parses and validates its own request bodies, and three of its failures
escaped as 500s or as a 422 whose ``detail`` is a bare string, which its OpenAPI
description does not allow (schemathesis found each):

- a ``ValidationError`` from ``/batch`` inputs (LangServe validates them unguarded),
- a body nested past the JSON parser's recursion limit, or not UTF-8,
- ``RequestValidationError(errors=["Invalid JSON body"])``, a bare string as an error.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from app.auth.store import KeyStoreUnavailableError
from app.streams.buffers import BufferUnavailableError
from chains.errors import (
    DocumentNotFoundError,
    KnowledgeBaseConflictError,
    KnowledgeBaseNotFoundError,
)


def add_error_handlers(app: FastAPI) -> None:
    """Install the handlers on ``app``."""
    app.add_exception_handler(ValidationError, _invalid_input)
    app.add_exception_handler(RecursionError, _unreadable_json)
    app.add_exception_handler(UnicodeDecodeError, _unreadable_json)
    app.add_exception_handler(HTTPException, _documented_422)
    app.add_exception_handler(RequestValidationError, _documented_validation_error)
    app.add_exception_handler(BufferUnavailableError, _service_unavailable)
    app.add_exception_handler(KeyStoreUnavailableError, _service_unavailable)
    app.add_exception_handler(DocumentNotFoundError, _not_found)
    app.add_exception_handler(KnowledgeBaseNotFoundError, _not_found)
    app.add_exception_handler(KnowledgeBaseConflictError, _conflict)


async def _service_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503: streams cannot be buffered, or keys read, while Redis is away; retry later."""
    return JSONResponse({"detail": str(exc)}, status_code=503)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    """404: no document or knowledge base has the id or name the request gave."""
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    """409: the knowledge base exists already, or is the default one."""
    return JSONResponse({"detail": str(exc)}, status_code=409)


def _unprocessable(loc: list[str | int], msg: str, kind: str) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": loc, "msg": msg, "type": kind}]}, status_code=422)


async def _invalid_input(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each field; the values are left out (they may not even be valid text)."""
    assert isinstance(exc, ValidationError)
    errors = [
        {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    return JSONResponse({"detail": errors}, status_code=422)


async def _unreadable_json(request: Request, exc: Exception) -> JSONResponse:
    """422 for a body the JSON parser cannot read: nested too deeply, or not UTF-8."""
    why = "is nested too deeply" if isinstance(exc, RecursionError) else "is not UTF-8"
    return _unprocessable(["body"], f"the JSON body {why}", "json_invalid")


async def _documented_422(request: Request, exc: Exception) -> Response:
    """A 422 with a bare-string ``detail`` in the documented list form; others as usual."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 422 and isinstance(exc.detail, str):
        return _unprocessable(["body"], exc.detail, "value_error")
    return await http_exception_handler(request, exc)


async def _documented_validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own 422, with any bare-string error given the documented fields."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if all(isinstance(err, dict) for err in errors):
        return await request_validation_exception_handler(request, exc)
    return JSONResponse(
        {
            "detail": [
                err
                if isinstance(err, dict)
                else {"loc": ["body"], "msg": str(err), "type": "json_invalid"}
                for err in errors
            ]
        },
        status_code=422,
    )
