"""What every benchmark section shares: processes under test, a lean SSE client, statistics.

The app under test always runs in its own process (``streaming-rag serve``), so its CPU
time and memory are measured apart from the load generator's and the client's.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

VENV_BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nothing listens on now (the benchmarks' and the tests' servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A server process on a loopback port."""

    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.popen.pid)

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def rss_mb(self) -> float:
        return float(self.process.memory_info().rss / 2**20)

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class PeakRss:
    """The highest resident size among ``processes()``, sampled in a thread until closed.

    ``processes`` is asked again at every sample, so children that come and go (a parser
    per file) are caught; one that exits between listing and reading is skipped.
    """

    def __init__(
        self, processes: Callable[[], Iterable[psutil.Process]], *, every_s: float = 0.02
    ) -> None:
        self.processes, self.every_s = processes, every_s
        self.peak = self._reading()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _reading(self) -> int:
        sizes = [0]
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                sizes.append(process.memory_info().rss)
        return max(sizes)

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak = max(self.peak, self._reading())

    def close(self) -> int:
        """Stop sampling; the peak in bytes."""
        self._stop.set()
        self._thread.join()
        return self.peak


@contextlib.contextmanager
def redis_server(home: Path) -> Iterator[str]:
    """Debian's redis-server on a free loopback port, nothing persisted; yields its URL."""
    import redis

    port = free_port()
    with (home / "redis.log").open("w") as log:
        process = subprocess.Popen(
            [
                *("redis-server", "--bind", "127.0.0.1", "--port", str(port)),
                *("--save", "", "--appendonly", "no", "--dir", str(home)),
            ],
            stdout=log,
            stderr=log,
        )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline and process.poll() is None, "redis did not start"
            time.sleep(0.05)
    client.close()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def start(
    name: str, argv: Sequence[str], *, port: int, env: dict[str, str], ready_path: str, logs: Path
) -> Service:
    """Start ``argv`` and wait (up to 3 minutes) until ``ready_path`` answers."""
    log = logs / f"{name}.log"
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    with log.open("wb") as out:
        popen = subprocess.Popen(argv, env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    service = Service(name, popen, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{name} exited with {popen.returncode}; see {log}")
        try:
            if httpx.get(service.url + ready_path, timeout=2).status_code < 500:
                return service
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    service.stop()
    raise RuntimeError(f"{name} did not answer {ready_path} within 3 minutes; see {log}")


def start_app(
    name: str, *, chroma: Path, llm_url: str, model: str, logs: Path, **env: str
) -> Service:
    """``streaming-rag serve`` on ``chroma``, talking to the LLM at ``llm_url``."""
    port = free_port()
    settings = {
        "RAG_CHROMA_PATH": str(chroma),
        "RAG_LLM_BASE_URL": llm_url,
        "RAG_LLM_MODEL": model,
        "RAG_LLM_TEMPERATURE": "0",
        "RAG_INDEX_SAMPLE_DOCS": "false",
        **{f"RAG_{k.upper()}": v for k, v in env.items()},
    }
    argv = [str(VENV_BIN / "streaming-rag"), "serve", "--port", str(port)]
    return start(name, argv, port=port, env=settings, ready_path="/health", logs=logs)


@contextlib.contextmanager
def local_engine_app(
    name: str, *, work: Path, logs: Path, chroma: Path, **env: str
) -> Iterator[Service]:
    """The default local engine (Q4_0, 4 slots) and ``streaming-rag serve`` on it."""
    from app.engines.llama_server import LocalModelServer
    from app.engines.model_file import local_model_file
    from app.settings import LOCAL_MODEL_ALIAS

    model = local_model_file("Q4_0", work / "models")
    log = logs / f"{name}-llm.log"
    with LocalModelServer(model_path=model, port=free_port(), log_path=log) as llm:
        app = start_app(
            name, chroma=chroma, llm_url=llm.base_url, model=LOCAL_MODEL_ALIAS, logs=logs, **env
        )
        try:
            yield app
        finally:
            app.stop()


def start_module(name: str, module: str, *, ready_path: str, logs: Path, **env: str) -> Service:
    """``python -m module --port P``, for the scripted LLM and the baseline app."""
    port = free_port()
    argv = [sys.executable, "-m", module, "--port", str(port)]
    return start(name, argv, port=port, env=env, ready_path=ready_path, logs=logs)


@dataclass
class StreamTiming:
    """One typed-event stream as the client saw it (seconds from sending the request)."""

    first_source: float | None = None
    first_token: float | None = None
    end: float = 0.0
    tokens: int = 0
    events: int = 0
    revises: int = 0
    final_first_token: float | None = None
    """First token of the answer that stood: after the last ``revise`` (progressive)."""
    error: str | None = None
    done: dict[str, Any] = field(default_factory=dict)


async def timed_payloads(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> AsyncIterator[tuple[float, dict[str, Any]]]:
    """POST ``body`` to an SSE route; yield each event's JSON with the seconds since sending."""
    import json

    started = time.perf_counter()
    async with client.stream("POST", path, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                yield time.perf_counter() - started, json.loads(line[6:])


async def read_rag_sse(
    client: httpx.AsyncClient, body: dict[str, Any], *, keep_done: bool = False
) -> StreamTiming:
    """POST /rag/sse and time it, parsing only what the timing needs (the client is cheap)."""
    import json

    timing = StreamTiming()
    started = time.perf_counter()
    kind = ""
    try:
        async with client.stream("POST", "/rag/sse", json=body) as response:
            if response.status_code != 200:
                timing.error = f"HTTP {response.status_code}"
                return timing
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                    timing.events += 1
                    now = time.perf_counter() - started
                    if kind == "source" and timing.first_source is None:
                        timing.first_source = now
                    elif kind == "token":
                        timing.tokens += 1
                        if timing.first_token is None:
                            timing.first_token = now
                        if timing.final_first_token is None:
                            timing.final_first_token = now
                    elif kind == "revise":
                        timing.revises += 1
                        timing.final_first_token = None
                elif line.startswith("data: ") and kind in ("done", "error"):
                    data = json.loads(line[6:])
                    if kind == "error":
                        timing.error = data["code"]
                    elif keep_done:
                        timing.done = data
    except httpx.HTTPError as exc:
        timing.error = f"{type(exc).__name__}: {exc}"
    timing.end = time.perf_counter() - started
    return timing


async def set_script(scripted: Service, *, tokens: int, rate: float) -> None:
    """Tell the scripted LLM how many tokens to send per request, and how fast (0: at once)."""
    async with httpx.AsyncClient(base_url=scripted.url) as client:
        (await client.put("/script", json={"tokens": tokens, "rate": rate})).raise_for_status()


def ms(values: Sequence[float]) -> list[float]:
    return [v * 1000 for v in values]


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, p95, p99, min and count (p95/p99 by linear interpolation)."""
    data = sorted(values)
    if not data:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    q = [data[0]] * 99 if len(data) == 1 else statistics.quantiles(data, n=100, method="inclusive")
    return {
        "n": len(data),
        "p50": statistics.median(data),
        "p95": q[94],
        "p99": q[98],
        "min": data[0],
    }


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def verdict(ok: bool, detail: str = "") -> str:
    return ("**met**" if ok else "**missed**") + (f" ({detail})" if detail else "")


def run_alone(
    run: Callable[[Path, Path], Awaitable[Any]], section: Callable[[Any], Any], prefix: str
) -> None:
    """``python -m bench.<module>``: one section in a temporary work directory, printed."""
    import asyncio
    import tempfile

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        (work / "logs").mkdir()
        print(section(asyncio.run(run(work, work / "logs"))).body)
