"""``streaming-rag summarize PATH | --id ID [--kb NAME]``: a long document's summary.

A progress bar (on stderr) follows the parts as the model summarizes them, then the
summary streams to stdout token by token, then one metrics line. It runs in process,
with the same :class:`~chains.summarize.StreamingSummarizer` as ``/summarize/sse``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from app.cli._console import console
from app.cli.serve import model_server
from app.settings import Settings
from chains.summary_events import SummaryEvent


def cmd_summarize(args: argparse.Namespace) -> int:
    """Summarize a file (txt, md, html, pdf) or an indexed document; 1 on an error event."""
    from chains.errors import DocumentError
    from chains.isolated_parsing import IsolatedParser
    from chains.loaders import load_file

    settings = Settings()
    if args.id:
        request = {"doc_id": args.id, "kb": args.kb}
    else:
        try:
            document = load_file(Path(args.path), IsolatedParser(settings.parse_limits).read)
        except DocumentError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}")
            return 2
        request = {"content": document.content, "title": Path(args.path).name}
    from app.services import build_services

    with model_server(settings):
        summarizer = build_services(settings).summarizer
        return asyncio.run(_print_summary(summarizer.astream(request)))


async def _print_summary(events: AsyncIterator[SummaryEvent]) -> int:
    """Progress while the parts are summarized, then the summary as it streams."""
    out = Console(highlight=False)
    with Progress(console=console, transient=True) as progress:
        task = None
        async for event in events:
            if event.type == "summary_start":
                console.print(
                    f"{escape(event.title or event.document_id)}: {event.total_chars:,} "
                    f"characters in {event.total_chunks} parts"
                )
                task = progress.add_task("summarizing parts", total=100)
            elif event.type == "summary_chunk" and task is not None:
                progress.update(task, completed=event.progress)
            elif event.type == "token":
                if task is not None:
                    progress.remove_task(task)
                    progress.stop()
                    task = None
                out.print(event.content, end="", markup=False)
            elif event.type == "error":
                console.print(f"\n[red]error {event.code}:[/red] {escape(event.message)}")
                return 1
            elif event.type == "summary_done":
                m = event.metrics
                console.print(
                    f"\n[dim]first summary token {m.first_token_ms} ms · {m.token_count} tokens "
                    f"at {m.tokens_per_sec} tok/s · {m.model_calls} model calls · "
                    f"total {m.total_ms} ms[/dim]"
                )
    return 0
