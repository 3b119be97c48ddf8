"""``GET /``: the sources-first chat page, and ``/static``: its scripts and styles.

Plain HTML, CSS and ES modules with no build step. The browser libraries it imports
(marked, DOMPurify, eventsource-parser) are copied into ``static/vendor`` by ``make``
from the npm registry, so the page loads nothing from a CDN.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

router = APIRouter(tags=["page"])

_PAGE = files("app").joinpath("static/index.html")


def static_files() -> StaticFiles:
    """The page's assets (``app/static``), which ``create_app`` mounts at ``/static``."""
    return StaticFiles(packages=[("app", "static")])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def chat_page() -> HTMLResponse:
    """Serve the chat page; it streams each answer from ``POST /rag/sse``."""
    return HTMLResponse(_PAGE.read_text(encoding="utf-8"))
