"""``GET /``: the sources-first chat page (static HTML reading ``GET /rag/sse``)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["page"])

_PAGE = files("app").joinpath("static/index.html")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def chat_page() -> HTMLResponse:
    """Serve the chat page; it opens one ``EventSource`` per question."""
    return HTMLResponse(_PAGE.read_text(encoding="utf-8"))
