"""``streaming-rag ingest PATH... [--watch] [--kb NAME]``: files into the index, with progress.

``--kb`` names the knowledge base to write; one that does not exist yet is created.
``--reindex`` (no paths) indexes every stored document again from its own chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.progress import Progress, TextColumn
from rich.table import Table

from app.cli._console import console
from app.settings import Settings

if TYPE_CHECKING:
    from app.services import Services
    from chains.file_ingest import FileResult
    from chains.knowledge_bases import KnowledgeBase
    from chains.loaders import Reader

SUMMARY_ROWS = 50
"""Above this many files the summary lists only failures, plus the totals."""


def cmd_ingest(args: argparse.Namespace) -> int:
    """Index files (text, Markdown, HTML, PDF); with ``--watch``, keep following them.

    Exits non-zero when any file failed; a watch ends with Ctrl-C.
    """
    from app.services import build_services

    paths = [Path(p) for p in args.paths]
    if bool(paths) == args.reindex:
        console.print("[red]error:[/red] give files or directories to index, or --reindex")
        return 2
    if args.watch and (missing := [str(p) for p in paths if not p.exists()]):
        console.print(f"[red]error:[/red] cannot watch what does not exist: {', '.join(missing)}")
        return 2
    services = build_services(Settings())
    kb = _open_or_create(services, args.kb)
    if args.reindex:
        return asyncio.run(_reindex(kb))
    try:
        return asyncio.run(_ingest(paths, kb, services.parser.read, watch=args.watch))
    except KeyboardInterrupt:
        console.print("stopped watching")
        return 0


def _open_or_create(services: Services, name: str) -> KnowledgeBase:
    """The knowledge base ``name`` names, created (and said so) when it is new."""
    from chains.errors import KnowledgeBaseNotFoundError

    try:
        return services.kbs.get(name)
    except KnowledgeBaseNotFoundError:
        console.print(f"created the knowledge base {escape(name)}")
        return services.kbs.create(name)


async def _ingest(paths: list[Path], kb: KnowledgeBase, read: Reader, *, watch: bool) -> int:
    """Index what is there now with a progress bar and summary, then follow if asked."""
    from chains.file_ingest import index_files, watch_files
    from chains.ingest import collection_size
    from chains.loaders import LOADERS, find_files

    files = find_files(paths)
    if not files and not watch:
        console.print(f"no supported files found (supported: {', '.join(sorted(LOADERS))})")
        return 1
    results: list[FileResult] = []
    started = time.perf_counter()
    if files:
        chunks = 0
        with _progress() as progress:
            task = progress.add_task("indexing", total=len(files), rate="")
            async for result in index_files(kb.ingestor, files, read=read):
                results.append(result)
                chunks += result.num_chunks if result.status == "indexed" else 0
                progress.update(task, advance=1, rate=_rate(chunks, started))
        elapsed = time.perf_counter() - started
        console.print(_summary_table(results, collection_size(kb.store), elapsed))
    if watch:
        console.print(f"watching {', '.join(map(str, paths))} for changes (Ctrl-C to stop)")
        async for result in watch_files(paths, kb.ingestor, read=read):
            console.print(_result_line(result))
    return 1 if any(r.status == "failed" for r in results) else 0


async def _reindex(kb: KnowledgeBase) -> int:
    """Index every stored document again, rebuilt from its chunks, with a progress bar."""
    from chains.documents import stored_documents
    from chains.ingest_events import DocErrorEvent, DocStageEvent

    documents = await asyncio.to_thread(stored_documents, kb.store)
    chunks = failed = 0
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("re-indexing", total=len(documents), rate="")
        async for event in kb.ingestor.run(documents):
            if isinstance(event, DocErrorEvent):
                failed += 1
                progress.advance(task)
                console.print(f"[red]failed[/red]  {escape(event.doc_id or '?')}: {event.error}")
            elif isinstance(event, DocStageEvent) and event.stage == "ready":
                chunks += event.num_chunks_indexed or 0
                progress.update(task, advance=1, rate=_rate(chunks, started))
    elapsed = time.perf_counter() - started
    console.print(
        f"re-indexed {len(documents) - failed} of {len(documents)} documents of {kb.name}: "
        f"{chunks} chunks in {elapsed:.1f} s ({chunks / max(elapsed, 1e-9):.0f} chunks/s)"
    )
    return 1 if failed else 0


def _progress() -> Progress:
    """Rich's default bar, plus the chunks per second indexed so far."""
    return Progress(
        *Progress.get_default_columns(), TextColumn("{task.fields[rate]}"), console=console
    )


def _rate(chunks: int, started: float) -> str:
    return f"{chunks / max(time.perf_counter() - started, 1e-9):.1f} chunks/s"


def _summary_table(results: list[FileResult], size: int, elapsed_s: float) -> Table:
    """One row per file (or per failure, for big runs) and the run's totals."""
    indexed = [r for r in results if r.status == "indexed"]
    failed = [r for r in results if r.status == "failed"]
    chunks = sum(r.num_chunks for r in indexed)
    table = Table(
        title=f"indexed {len(indexed)}, failed {len(failed)}",
        caption=(
            f"{chunks} chunks in {elapsed_s:.1f} s ({chunks / max(elapsed_s, 1e-9):.0f} chunks/s);"
            f" collection size {size}"
        ),
    )
    for column in ("file", "status", "chunks", "error"):
        table.add_column(column, overflow="fold")
    for r in sorted(results if len(results) <= SUMMARY_ROWS else failed, key=lambda r: r.path):
        colour = "green" if r.status == "indexed" else "red"
        table.add_row(
            escape(str(r.path)),
            f"[{colour}]{r.status}[/{colour}]",
            str(r.num_chunks),
            escape(r.error),
        )
    return table


def _result_line(result: FileResult) -> str:
    """A watch-mode log line."""
    if result.status == "failed":
        return f"[red]failed[/red]  {escape(str(result.path))}: {escape(result.error)}"
    colour = "green" if result.status == "indexed" else "yellow"
    return (
        f"[{colour}]{result.status}[/{colour}] {escape(str(result.path))} "
        f"({result.num_chunks} chunks)"
    )
