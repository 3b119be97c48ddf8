"""Error responses of the protocol doors in each protocol's own form.

A request to ``/v1/*`` or ``/ui/*`` can be refused anywhere: by the body limit, the
rate limit, the key check, validation, an unknown knowledge base. Each of those answers
``{"detail": ...}`` as the rest of the service does. This middleware, outermost on those
paths, rewrites such an answer once, so no refusal reaches an OpenAI client or
``useChat`` in a form it cannot read:

- ``/v1/*``: OpenAI's ``{"error": {"message", "type", "param", "code"}}``, with 400
  for a request that does not validate (as OpenAI answers, where the rest of the service
  says 422),
- ``/ui/*``: the message as plain text, which ``useChat`` shows as its error.

Streams are never touched: an error after the first byte is the protocol's own error
chunk, written by the door.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.protocols.openai_chat import openai_error

OPENAI_PREFIX = "/v1/"
UI_PREFIX = "/ui/"

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
_OPENAI_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


def detail_message(detail: Any) -> tuple[str, str | None]:
    """A ``detail`` as one sentence, and the field it names (for a 422)."""
    if isinstance(detail, list) and detail and all(isinstance(e, dict) for e in detail):
        parts, param = [], None
        for error in detail:
            loc = [str(p) for p in error.get("loc", []) if p not in ("body", "query")]
            param = param or (".".join(loc) or None)
            parts.append(f"{'.'.join(loc)}: {error.get('msg')}" if loc else str(error.get("msg")))
        return "; ".join(parts), param
    if isinstance(detail, dict):
        return str(detail.get("message") or json.dumps(detail)), None
    return str(detail), None


def openai_body(status: int, detail: Any) -> tuple[int, bytes, str]:
    """OpenAI's error body; a 422 becomes the 400 OpenAI answers a bad request with."""
    status = 400 if status == 422 else status
    message, param = detail_message(detail)
    kind = _OPENAI_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    error = openai_error(message, kind, _OPENAI_CODES.get(status), param)
    return status, json.dumps({"error": error}).encode(), "application/json"


def ui_body(status: int, detail: Any) -> tuple[int, bytes, str]:
    """The message alone: ``useChat`` makes the response's text its error message."""
    return status, detail_message(detail)[0].encode(), "text/plain; charset=utf-8"


class ProtocolErrorsMiddleware:
    """ASGI middleware: JSON error answers on the protocol paths, reshaped once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; hold a JSON error answer on our paths and reshape it."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(OPENAI_PREFIX):
            shape = openai_body
        elif path.startswith(UI_PREFIX):
            shape = ui_body
        else:
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body = b""

        async def reshaping_send(message: Message) -> None:
            nonlocal held, body
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message["headers"])
                if message["status"] >= 400 and headers.get("content-type") == "application/json":
                    held = message  # an error in our shape: hold it until its body is whole
                    return
            elif held is not None and message["type"] == "http.response.body":
                body += message.get("body", b"")
                if message.get("more_body"):
                    return
                await _send_reshaped(send, held, body, shape)
                return
            await send(message)

        await self.app(scope, receive, reshaping_send)


async def _send_reshaped(send: Send, start: Message, body: bytes, shape: Any) -> None:
    try:
        detail = json.loads(body).get("detail", body.decode())
    except (ValueError, AttributeError):
        detail = body.decode(errors="replace")
    status, content, content_type = shape(start["status"], detail)
    headers = MutableHeaders(raw=list(start["headers"]))
    headers["content-type"] = content_type
    headers["content-length"] = str(len(content))
    await send({**start, "status": status, "headers": headers.raw})
    await send({"type": "http.response.body", "body": content})
