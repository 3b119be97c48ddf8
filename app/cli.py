"""The ``streaming-rag`` command: serve, llm, ingest, ask.

``serve`` starts the local model server when no LLM endpoint is configured, indexes
the sample knowledge base into an empty collection, then runs the API; Ctrl-C stops
both processes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from app.llm_server import LocalModelServer, LocalModelServerError
from app.settings import Settings

if TYPE_CHECKING:
    from app.services import Services
    from chains.file_ingest import FileResult

console = Console(stderr=True)


@contextmanager
def _model_server(settings: Settings) -> Iterator[None]:
    """Run the local model server for the duration of the block, if settings need it."""
    if not settings.uses_local_llm:
        console.print(f"LLM: {settings.llm_model} at {settings.effective_llm_base_url}")
        yield
        return
    log_path = settings.chroma_path.parent / "llm-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    server = LocalModelServer(
        port=settings.local_llm_port,
        threads=settings.local_llm_threads,
        n_ctx=settings.local_llm_ctx,
        log_path=log_path,
    )
    with console.status("starting the local model server (SmolLM2-135M, llama.cpp)..."):
        server.start()
    console.print(
        f"LLM: local model server at {server.base_url} "
        f"(loaded in {server.load_seconds:.1f} s, log: {log_path})"
    )
    try:
        yield
    finally:
        server.stop()
        console.print("LLM: local model server stopped")


def _index_sample_docs_if_empty(services: Services) -> None:
    """Give a fresh install something to answer from."""
    from app.knowledge_base import load_sample_documents
    from chains.ingest import build_splitter, collection_size, index_documents

    settings = services.settings
    if collection_size(services.store) > 0 or not settings.index_sample_docs:
        return
    documents = load_sample_documents()
    splitter = build_splitter(settings.chunk_size, settings.chunk_overlap)
    with Progress(console=console) as progress:
        task = progress.add_task("indexing the sample knowledge base", total=len(documents))
        for doc in documents:
            index_documents(services.store, [doc], splitter)
            progress.advance(task)
    console.print(
        f"indexed {len(documents)} sample documents ({collection_size(services.store)} chunks)"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the API (and the local model server when needed)."""
    import uvicorn

    from app.server import create_app

    settings = Settings(**_overrides(args))
    app = create_app(settings)
    _index_sample_docs_if_empty(app.state.services)
    with _model_server(settings):
        base = f"http://{settings.host}:{settings.port}"
        console.print(
            f"page:       {base}/\nplayground: {base}/rag/playground/\n"
            f"docs:       {base}/docs\nhealth:     {base}/health"
        )
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0


def cmd_llm(args: argparse.Namespace) -> int:
    """Run only the local model server, until Ctrl-C."""
    settings = Settings(**_overrides(args))
    if not settings.uses_local_llm:
        console.print(
            "an LLM endpoint is configured (RAG_LLM_BASE_URL or OPENAI_API_KEY); "
            "no local server started"
        )
        return 0
    try:
        with _model_server(settings):
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Index files (text, Markdown, HTML, PDF); with ``--watch``, keep following them.

    Exits non-zero when any file failed; a watch ends with Ctrl-C.
    """
    from app.services import build_services

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # the summary reports a bad PDF once
    paths = [Path(p) for p in args.paths]
    if args.watch and (missing := [str(p) for p in paths if not p.exists()]):
        console.print(f"[red]error:[/red] cannot watch what does not exist: {', '.join(missing)}")
        return 2
    services = build_services(Settings())
    try:
        return asyncio.run(_ingest(paths, services, watch=args.watch))
    except KeyboardInterrupt:
        console.print("stopped watching")
        return 0


async def _ingest(paths: list[Path], services: Services, *, watch: bool) -> int:
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
        with Progress(console=console) as progress:
            task = progress.add_task("indexing", total=len(files))
            async for result in index_files(services.ingestor, files):
                results.append(result)
                progress.advance(task)
        elapsed = time.perf_counter() - started
        console.print(_summary_table(results, collection_size(services.store), elapsed))
    if watch:
        console.print(f"watching {', '.join(map(str, paths))} for changes (Ctrl-C to stop)")
        async for result in watch_files(paths, services.ingestor):
            console.print(_result_line(result))
    return 1 if any(r.status == "failed" for r in results) else 0


SUMMARY_ROWS = 50
"""Above this many files the summary lists only failures, plus the totals."""


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


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question: sources first, the answer as it streams, then citations and metrics.

    With ``--url`` it reads a running server's ``/rag/sse``; otherwise it runs the same
    event stream in-process (starting the local model server when needed).
    """
    request: dict[str, object] = {"question": args.question}
    if args.k:
        request["k"] = args.k
    if args.url:
        return asyncio.run(_print_events(_remote_events(args.url, request)))
    from app.services import build_services

    settings = Settings()
    with _model_server(settings):
        stream = build_services(settings).event_stream
        return asyncio.run(_print_events(stream.astream(request)))


async def _remote_events(url: str, request: dict[str, object]) -> AsyncIterator[dict[str, Any]]:
    """The typed events of ``POST {url}/rag/sse``."""
    import json

    import httpx
    from httpx_sse import aconnect_sse

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        async with aconnect_sse(client, "POST", "/rag/sse", json=request) as source:
            if source.response.status_code != 200:
                await source.response.aread()
                raise SystemExit(
                    f"error: HTTP {source.response.status_code}: {source.response.text}"
                )
            async for sse in source.aiter_sse():
                # httpx-sse 0.4 turns each ping comment into an empty "message" event once
                # an id has been seen; the SSE spec (and browsers) dispatch nothing there.
                if sse.data:
                    yield json.loads(sse.data)


async def _print_events(events: AsyncIterator[dict[str, Any]]) -> int:
    """Render the event stream on the terminal; exit status 1 when it ended in error."""
    out = Console(highlight=False)
    async for event in events:
        kind = event["type"]
        if kind == "source":
            out.print(
                f"[bold]{escape('[' + event['cite'] + ']')}[/bold] {event['score']:.2f} "
                f"{escape(str(event['metadata'].get('source', event['doc_id'])))}"
            )
        elif kind == "ttft":
            out.print()
        elif kind == "token":
            out.print(event["content"], end="", markup=False)
        elif kind == "error":
            out.print(
                f"\n[red]error {event['code']}:[/red] {escape(event['message'])}"
                + (" (retryable)" if event["retryable"] else "")
            )
            return 1
        elif kind == "done":
            marks = [f"[green]{c} ✓[/green]" for c in event["cited"]]
            marks += [f"[red]{c} ✗ not retrieved[/red]" for c in event["invalid_citations"]]
            out.print("\n\ncited: " + (", ".join(marks) or "none"))
            m = event["metrics"]
            out.print(
                f"[dim]retrieval {m['retrieval_ms']} ms · first source {m['ttfs_ms']} ms · "
                f"first token {m['ttft_ms']} ms · {m['token_count']} tokens at "
                f"{m['tokens_per_sec']} tok/s · total {m['total_ms']} ms[/dim]"
            )
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given on the command line, which win over the environment."""
    return {key: value for key in ("host", "port") if (value := getattr(args, key, None))}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one sub-command per job."""
    parser = argparse.ArgumentParser(prog="streaming-rag", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API (and the local model server)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)
    commands.add_parser("llm", help="run only the local model server").set_defaults(func=cmd_llm)
    ingest = commands.add_parser("ingest", help="index .txt, .md, .html and .pdf files")
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="a file or a directory")
    ingest.add_argument(
        "--watch", action="store_true", help="then re-index changes and drop deleted files"
    )
    ingest.set_defaults(func=cmd_ingest)
    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=None)
    ask.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    ask.set_defaults(func=cmd_ask)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``streaming-rag`` console script."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LocalModelServerError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
