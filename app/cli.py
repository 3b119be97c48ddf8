"""The ``streaming-rag`` command: serve, llm, ingest, ask.

``serve`` starts the local model server when no LLM endpoint is configured, indexes
the sample knowledge base into an empty collection, then runs the API; Ctrl-C stops
both processes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress

from app.llm_server import LocalModelServer, LocalModelServerError
from app.settings import Settings

if TYPE_CHECKING:
    from app.services import Services

console = Console(stderr=True)

TEXT_SUFFIXES = (".txt", ".md")


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
    console.print(f"LLM: local model server at {server.base_url} "
                  f"(loaded in {server.load_seconds:.1f} s, log: {log_path})")  # fmt: skip
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
    console.print(f"indexed {len(documents)} sample documents "
                  f"({collection_size(services.store)} chunks)")  # fmt: skip


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the API (and the local model server when needed)."""
    import uvicorn

    from app.server import create_app

    settings = Settings(**_overrides(args))
    app = create_app(settings)
    _index_sample_docs_if_empty(app.state.services)
    with _model_server(settings):
        base = f"http://{settings.host}:{settings.port}"
        console.print(f"page:       {base}/\nplayground: {base}/rag/playground/\n"
                      f"docs:       {base}/docs\nhealth:     {base}/health")  # fmt: skip
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0


def cmd_llm(args: argparse.Namespace) -> int:
    """Run only the local model server, until Ctrl-C."""
    settings = Settings(**_overrides(args))
    if not settings.uses_local_llm:
        console.print("an LLM endpoint is configured (RAG_LLM_BASE_URL or OPENAI_API_KEY); "
                      "no local server started")  # fmt: skip
        return 0
    try:
        with _model_server(settings):
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Index text and Markdown files; non-zero exit when any file failed."""
    from pydantic import ValidationError

    from app.services import build_services
    from chains.ingest import InputDocument, build_splitter, collection_size, index_documents

    settings = Settings()
    files = [p for path in args.paths for p in _expand(Path(path))]
    if not files:
        console.print("no .txt or .md files found")
        return 1
    services = build_services(settings)
    splitter = build_splitter(settings.chunk_size, settings.chunk_overlap)
    failed = 0
    with Progress(console=console) as progress:
        task = progress.add_task("indexing", total=len(files))
        for path in files:
            try:
                doc = InputDocument(id=path.stem, content=path.read_text(encoding="utf-8"),
                                    metadata={"source": str(path)})  # fmt: skip
                index_documents(services.store, [doc], splitter)
            except (OSError, UnicodeDecodeError, ValidationError) as exc:
                failed += 1
                progress.console.print(f"[red]failed[/red] {path}: {exc}")
            progress.advance(task)
    console.print(f"indexed {len(files) - failed}, failed {failed}; "
                  f"collection size {collection_size(services.store)}")  # fmt: skip
    return 1 if failed else 0


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question in-process: sources first, then the streamed answer."""
    from app.services import build_services

    settings = Settings()
    with _model_server(settings):
        chain = build_services(settings).rag_chain

        async def run() -> None:
            request = {"question": args.question} | ({"k": args.k} if args.k else {})
            async for chunk in chain.astream(request):
                for source in chunk.get("sources", []):
                    print(f"[{source['cite']}] {source['score']:.2f} "
                          f"{source['metadata'].get('source', '')}")  # fmt: skip
                if "sources" in chunk:
                    print()
                print(chunk.get("answer", ""), end="", flush=True)
            print()

        asyncio.run(run())
    return 0


def _expand(path: Path) -> list[Path]:
    """The text files at ``path`` (recursively for a directory)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES)
    return [path]


def _overrides(args: argparse.Namespace) -> dict[str, object]:
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
    ingest = commands.add_parser("ingest", help="index .txt and .md files")
    ingest.add_argument("paths", nargs="+")
    ingest.set_defaults(func=cmd_ingest)
    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=None)
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
