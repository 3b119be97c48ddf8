"""Shared fixtures: a clean environment, the real local model server, real embeddings."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import uvicorn
from langchain_core.embeddings import Embeddings
from langserve import RemoteRunnable
from sse_starlette.sse import AppStatus

from app.engines.llama_server import LocalModelServer
from app.engines.model_file import local_model_file
from app.sample_docs import load_sample_documents
from app.server import create_app
from app.settings import Settings
from bench.harness import free_port
from bench.hostile_files import text_pdf
from bench.scripted_llm import ScriptedLLM
from chains.chunking import InputDocument, build_splitter
from chains.embeddings import build_embeddings
from chains.ingest import Ingestor
from chains.ingest_events import PipelineDoneEvent
from chains.store import build_chroma_client, build_vector_store

TEST_MAX_TOKENS = 48
"""Short answers keep the suite fast; the model's behaviour does not depend on it."""


@pytest.fixture(scope="session", autouse=True)
def clean_environ() -> Iterator[None]:
    """No RAG_* or OpenAI variable from the developer's shell leaks into a test."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("RAG_") or name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
                mp.delenv(name)
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(autouse=True)
def reset_sse_starlette_exit_event() -> None:
    """sse-starlette 1.x keeps one global exit event, bound to the first event loop."""
    AppStatus.should_exit_event = None


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_settings(**overrides: object) -> Settings:
    """Settings from explicit values only (no ``.env`` file)."""
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture
def settings_factory() -> type[Settings]:
    """Build ``Settings`` from explicit values only, as ``make_settings`` does."""
    return make_settings  # type: ignore[return-value]


@pytest.fixture(scope="session")
def local_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model as the default settings serve it, converted once per session."""
    return local_model_file(make_settings().local_llm_quant, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def local_llm(
    tmp_path_factory: pytest.TempPathFactory, local_model: Path
) -> Iterator[LocalModelServer]:
    """llama-server as ``serve`` starts it by default, for the whole session."""
    log = tmp_path_factory.mktemp("llm") / "llm-server.log"
    defaults = make_settings()
    with LocalModelServer(
        model_path=local_model,
        port=free_port(),
        slots=defaults.local_llm_slots,
        ctx_per_slot=defaults.local_llm_ctx,
        log_path=log,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def embeddings() -> Embeddings:
    return build_embeddings("local")


@pytest.fixture
def settings(tmp_path: Path, local_llm: LocalModelServer) -> Settings:
    return make_settings(
        chroma_path=tmp_path / "chroma",
        local_llm_port=local_llm.port,
        llm_max_tokens=TEST_MAX_TOKENS,
    )


@pytest.fixture(scope="session")
def kb_settings(
    tmp_path_factory: pytest.TempPathFactory, local_llm: LocalModelServer, embeddings: Embeddings
) -> Settings:
    """Settings of a collection holding the sample knowledge base, shared by the session.

    The collection is indexed here, so a test that builds its own app on these settings
    finds the sources whether or not another test ran first.
    """
    settings = make_settings(
        chroma_path=tmp_path_factory.mktemp("kb") / "chroma",
        local_llm_port=local_llm.port,
        llm_max_tokens=TEST_MAX_TOKENS,
    )
    client = build_chroma_client(path=settings.chroma_path)
    store = build_vector_store(client, settings.collection, embeddings)
    index_all(Ingestor(store, build_splitter()), load_sample_documents())
    return settings


def index_all(ingestor: Ingestor, documents: Sequence[InputDocument]) -> PipelineDoneEvent:
    """Run the ingestion pipeline from synchronous code; every document must be indexed."""

    async def run() -> list[object]:
        return [event async for event in ingestor.run(documents)]

    events = asyncio.run(run())
    done = events[-1]
    assert isinstance(done, PipelineDoneEvent), f"ingestion failed: {done}"
    assert done.failed == 0, [e for e in events if getattr(e, "type", "") == "doc_error"]
    return done


@pytest.fixture(name="index_all")
def index_all_fixture():
    """:func:`index_all`, for test modules (``tests`` is not an importable package)."""
    return index_all


@pytest.fixture(scope="session")
def kb_app(kb_settings: Settings, embeddings: Embeddings):
    return create_app(kb_settings, embeddings=embeddings)


class ServerThread:
    """An ASGI app served by a real uvicorn on a loopback port, in a thread of its own."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            loop="asyncio",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self.server.serve(),), daemon=True
        )

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.loop.close()

    def task_count(self) -> int:
        """Asyncio tasks alive in the server's loop, as seen from inside it."""

        async def count() -> int:
            return len(asyncio.all_tasks()) - 1  # minus this probe

        return asyncio.run_coroutine_threadsafe(count(), self.loop).result(timeout=5)


@pytest.fixture(scope="session")
def live_server(kb_settings: Settings, embeddings: Embeddings) -> Iterator[str]:
    """The sample-knowledge-base app served over a real socket, an app of its own.

    It served ``kb_app`` before, which tests also call in process, so one model client's
    pooled connections were used from the tests' event loops and from the server's. That
    is a hazard (a connection kept alive from a loop that has closed can be picked up by
    the other) and a suspect for one ``internal`` error seen once on ``/v1`` in a full run
    (not reproduced alone): each app's clients now live in one loop.
    """
    with ServerThread(create_app(kb_settings, embeddings=embeddings)) as server:
        yield server.url


_REMOTE_RUNNABLES: list[RemoteRunnable] = []


@pytest.fixture
async def remote_runnable():
    """Make ``RemoteRunnable`` clients that are closed after the test and never collected.

    Regression (a hang): LangServe's ``RemoteRunnable`` finalizer calls
    ``ThreadPoolExecutor.submit``. When the garbage collector ran it inside another
    ``submit`` on the server thread, both waited on concurrent.futures' global shutdown
    lock forever. Keeping every client referenced until exit means GC never runs it.
    """
    made: list[RemoteRunnable] = []

    def make(url: str) -> RemoteRunnable:
        remote = RemoteRunnable(url)
        made.append(remote)
        _REMOTE_RUNNABLES.append(remote)
        return remote

    yield make
    for remote in made:
        await remote.async_client.aclose()
        remote.sync_client.close()


@pytest.fixture(scope="session")
def serve():
    """Serve any ASGI app for one test: ``with serve(app) as server: server.url``."""
    return ServerThread


@pytest.fixture
def scripted_llm(serve):
    """The scripted OpenAI-compatible server (``bench.scripted_llm``), served for one test.

    It only forces what the real model cannot be made to do on demand: a slow, dying or
    citing answer, or an exact token list to compare with what the client received.
    """
    record = ScriptedLLM()
    with serve(record.app()) as server:
        record.url = server.url
        yield record


def write_pdf(path: Path, lines: list[str]) -> Path:
    """Write a one-page PDF showing ``lines`` in Helvetica (a real file pypdf can parse)."""
    path.write_bytes(text_pdf(lines))
    return path


@pytest.fixture(name="write_pdf")
def write_pdf_fixture():
    """:func:`write_pdf`, for test modules (``tests`` is not an importable package)."""
    return write_pdf
