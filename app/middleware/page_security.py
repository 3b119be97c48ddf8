"""Security headers on the chat page and its static files: what a rendered answer may load.

The page shows text that strangers wrote (indexed documents, and a model that read
them). Its own sanitizing (``static/markdown.js``) turns remote images into links; this
Content-Security-Policy is the second wall: scripts, styles, fonts and connections from
our own origin only, images from our origin and ``data:`` only, no plugins, no framing,
no ``<base>``, no form posts. ``nosniff`` keeps a file from being run as another type,
and ``no-referrer`` keeps the page's address (and a question in it) out of any request
a link the reader opens makes. Only ``/`` and ``/static/*`` get them: the API's JSON and
event streams are not documents, and LangServe's playground ships inline scripts of its
own.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""The page's policy; ``tests/browser/test_page_exfiltration.py`` checks it is sent."""

PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def is_page(path: str) -> bool:
    """Whether a path is the page or one of its static files."""
    return path == "/" or path.startswith("/static/")


class PageSecurityMiddleware:
    """ASGI middleware: :data:`PAGE_HEADERS` on every response of the page and its files.

    Example:
        >>> app.add_middleware(PageSecurityMiddleware)

    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response's start, whatever its status."""
        if scope["type"] != "http" or not is_page(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in PAGE_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
