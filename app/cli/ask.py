"""``streaming-rag ask "question" [-k N] [--kb NAME] [--url URL]``: one answer on the terminal.

Sources first, the answer as it streams, then citations and metrics. In process it
iterates the same event runnable the server does; with ``--url`` it reads a running
server's ``/rag/sse`` and parses each event back into its typed model.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from pydantic import Field, TypeAdapter
from rich.console import Console
from rich.markup import escape

from app.cli._bearer import bearer_headers
from app.cli.serve import model_server
from app.settings import Settings
from chains.errors import StreamingRagError
from chains.events import Metrics, RagEvent

_EVENT = TypeAdapter[RagEvent](Annotated[RagEvent, Field(discriminator="type")])


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question; exit status 1 when the stream ended in an ``error`` event."""
    request: dict[str, object] = {"question": args.question}
    if args.k:
        request["k"] = args.k
    if args.kb:
        request["kb"] = args.kb
    if args.url:
        last = asyncio.run(print_events(read_remote_events(args.url, request)))
    else:
        from app.services import build_services

        settings = Settings()
        with model_server(settings):
            stream = build_services(settings).event_stream
            last = asyncio.run(print_events(stream.astream(request)))
    return 0 if last is not None and last.type == "done" else 1


class RemoteRefusalError(StreamingRagError):
    """The server answered ``/rag/sse`` with an HTTP error instead of a stream.

    The command line prints it as an error (exit status 2); ``eval`` counts it against
    the one question.
    """


async def read_remote_events(url: str, request: dict[str, object]) -> AsyncIterator[RagEvent]:
    """The typed events of ``POST {url}/rag/sse``, sending ``RAG_API_KEY`` as the key.

    Raises:
        RemoteRefusalError: the server refused the request (its status and body).

    """
    import httpx
    from httpx_sse import aconnect_sse

    headers = bearer_headers(Settings())
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
        async with aconnect_sse(client, "POST", "/rag/sse", json=request) as source:
            if source.response.status_code != 200:
                await source.response.aread()
                raise RemoteRefusalError(
                    f"HTTP {source.response.status_code}: {source.response.text}"
                )
            async for sse in source.aiter_sse():
                # httpx-sse 0.4 turns each ping comment into an empty "message" event once
                # an id has been seen; the SSE spec (and browsers) dispatch nothing there.
                if sse.data:
                    yield _EVENT.validate_json(sse.data)


async def print_events(events: AsyncIterator[RagEvent]) -> RagEvent | None:
    """Render the event stream on the terminal; return its last event (``done``/``error``)."""
    out = Console(highlight=False)
    last: RagEvent | None = None
    async for event in events:
        last = event
        if event.type == "source":
            where = event.metadata.get("source", event.doc_id)
            out.print(
                f"[bold]{escape('[' + event.cite + ']')}[/bold] {event.score:.2f} "
                f"{escape(str(where))}"
            )
        elif event.type in ("status", "context_update") and event.query:
            out.print(f"[dim]follow-up searched as: {escape(event.query)}[/dim]")
        elif event.type == "revise":
            out.print(f"\n[yellow]revised:[/yellow] [dim]{escape(event.reason)}[/dim]")
        elif event.type == "ttft":
            out.print()
        elif event.type == "token":
            out.print(event.content, end="", markup=False)
        elif event.type == "error":
            retry = " (retryable)" if event.retryable else ""
            out.print(f"\n[red]error {event.code}:[/red] {escape(event.message)}{retry}")
        elif event.type == "done":
            if not event.metrics.token_count and event.answer:  # a decline: no model call
                out.print(f"\n[yellow]{escape(event.answer)}[/yellow]")
            marks = [f"[green]{c} ✓[/green]" for c in event.cited]
            marks += [f"[red]{c} ✗ not retrieved[/red]" for c in event.invalid_citations]
            out.print("\n\ncited: " + (", ".join(marks) or "none"))
            if (g := event.grounding) is not None and g.sentences:
                out.print(
                    f"supported by the sources: {g.supported} of {g.sentences} sentences "
                    f"({g.supported_share:.0%})"
                    + ("" if g.complete else " [yellow](check incomplete)[/yellow]")
                )
                for start, end in g.unsupported:
                    out.print(f"[red]  ✗ {escape(event.answer[start:end])}[/red]")
                if g.wrong_citations:
                    out.print(
                        f"[red]  {g.wrong_citations} sentence(s) cite a source that does not "
                        "support them[/red]"
                    )
            out.print(f"[dim]{_metrics_line(event.metrics)}[/dim]")
    return last


def _metrics_line(m: Metrics) -> str:
    """The timings on one line; a step that did not happen (no source, no token) is "-"."""
    line = f"retrieval {m.retrieval_ms} ms · first source {_ms(m.ttfs_ms)}"
    if not m.token_count:
        return f"{line} · no tokens · total {m.total_ms} ms"
    return (
        f"{line} · first token {_ms(m.ttft_ms)} · {m.token_count} tokens at "
        f"{m.tokens_per_sec} tok/s · total {m.total_ms} ms"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value} ms"
