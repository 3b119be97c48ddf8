"""``streaming-rag serve`` and ``streaming-rag llm``: the API and the local model server."""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import uvicorn
from rich.markup import escape
from rich.progress import Progress
from uvicorn.supervisors import Multiprocess

from app.cli._console import console
from app.engines.llama_server import LocalModelServer
from app.engines.model_file import local_model_file
from app.middleware.observability import json_log_config
from app.settings import Settings
from chains.errors import StreamingRagError

if TYPE_CHECKING:
    from app.services import Services
    from chains.chunking import InputDocument
    from chains.ingest import Ingestor


@contextmanager
def model_server(settings: Settings) -> Iterator[None]:
    """Run the local model server for the duration of the block, if settings need it."""
    if not settings.uses_local_llm:
        console.print(f"LLM: {settings.llm_model} at {settings.effective_llm_base_url}")
        yield
        return
    log_path = settings.data_dir / "llm-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    model_path = settings.local_llm_model_path
    if model_path is None:
        with console.status(f"preparing SmolLM2-135M as {settings.local_llm_quant}..."):
            model_path = local_model_file(
                settings.local_llm_quant,
                settings.data_dir / "models",
                threads=settings.local_llm_threads,
            )
    server = LocalModelServer(
        model_path=model_path,
        port=settings.local_llm_port,
        threads=settings.local_llm_threads,
        slots=settings.local_llm_slots,
        ctx_per_slot=settings.local_llm_ctx,
        log_path=log_path,
    )
    with console.status(f"starting llama-server ({model_path.name}, {server.slots} slots)..."):
        server.start()
    console.print(
        f"LLM: llama-server at {server.base_url}, {model_path.name}, {server.slots} slots "
        f"(loaded in {server.load_seconds:.1f} s, log: {log_path})"
    )
    try:
        yield
    finally:
        server.stop()
        console.print("LLM: local model server stopped")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the API (and the local model server when needed), in one or several workers."""
    from app.server import create_app

    settings = Settings(**_overrides(args))
    workers = args.workers or 1
    if workers > 1 and settings.chroma_host is None:
        raise StreamingRagError(
            "--workers needs a Chroma server that every worker shares: the embedded store "
            "belongs to one process. Start one with `streaming-rag chroma` and set "
            "RAG_CHROMA_HOST and RAG_CHROMA_PORT."
        )
    if workers == 1:
        app = create_app(settings)
        index_sample_docs_if_empty(app.state.services)
    else:
        # Checked and indexed once, in a process of its own that exits: this one only
        # supervises, and should not keep an embedding model it never uses.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as once:
            once.submit(_prepare_store, settings).result()
    with model_server(settings):
        base = f"http://{settings.host}:{settings.port}"
        console.print(
            f"page:       {base}/\nplayground: {base}/rag/playground/\n"
            f"docs:       {base}/docs\nhealth:     {base}/health"
        )
        if workers == 1:
            uvicorn.Server(_uvicorn_config(settings, app)).run()
        else:
            console.print(f"workers:    {workers}, sharing Chroma at {settings.chroma_host}")
            _run_workers(settings, workers)
    return 0


def _prepare_store(settings: Settings) -> None:
    """Open the collection (which checks its embedding model) and index the samples."""
    from app.services import build_services

    index_sample_docs_if_empty(build_services(settings))


def _uvicorn_config(settings: Settings, app: Any, **options: Any) -> uvicorn.Config:
    """The uvicorn settings: our JSON log lines, and a drain backstop after the grace."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=json_log_config(),
        access_log=False,  # ours has the request id and the timings
        # A backstop: the gate ends every stream when the grace runs out.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s) + 5,
        **options,
    )


def _run_workers(settings: Settings, workers: int) -> None:
    """Run uvicorn's process manager: ``workers`` processes share one listening socket.

    Each builds its app with :func:`app.server.create_app` from the environment, so the
    command line's ``--host``/``--port`` are passed on there. A worker that dies is
    replaced; SIGTERM reaches every worker, which drains its streams.
    """
    os.environ.update({"RAG_HOST": settings.host, "RAG_PORT": str(settings.port)})
    config = _uvicorn_config(settings, "app.server:create_app", factory=True, workers=workers)
    Multiprocess(config, sockets=[config.bind_socket()]).run()


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
        with model_server(settings):
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def index_sample_docs_if_empty(services: Services) -> None:
    """Give a fresh install something to answer from, through the one ingestion pipeline."""
    from app.sample_docs import load_sample_documents
    from chains.ingest import collection_size

    if not services.settings.index_sample_docs or collection_size(services.store) > 0:
        return
    documents = load_sample_documents()
    asyncio.run(_index_with_progress(services.ingestor, documents))


async def _index_with_progress(ingestor: Ingestor, documents: list[InputDocument]) -> None:
    """Run the pipeline under a progress bar; report each failure and the totals."""
    with Progress(console=console) as progress:
        task = progress.add_task("indexing the sample knowledge base", total=len(documents))
        async for event in ingestor.run(documents):
            if event.type == "doc_stage" and event.stage == "ready":
                progress.advance(task)
            elif event.type == "doc_error":
                progress.advance(task)
                console.print(f"[red]failed[/red] {event.doc_id}: {escape(event.error)}")
            elif event.type == "error":
                console.print(f"[red]error:[/red] {escape(event.message)}")
            elif event.type == "pipeline_done":
                console.print(
                    f"indexed {event.indexed} sample documents "
                    f"({event.collection_size} chunks, {event.failed} failed)"
                )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given on the command line, which win over the environment."""
    return {key: value for key in ("host", "port") if (value := getattr(args, key, None))}
