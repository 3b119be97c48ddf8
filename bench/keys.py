"""Section 19: what the scoped-key check costs per request.

Two measurements, each interleaved across the configurations (one round runs each of
them once, in turn) so a drift of the host lands on all of them alike:

- **The check alone**: :meth:`app.auth.access.Access.resolve` for one bearer header,
  plus :meth:`~app.auth.access.Access.check` for one knowledge base, in process: the
  open service (no key anywhere), ``RAG_API_KEY``, a scoped key in the key file
  (1,000 keys in it), and a scoped key in Redis (Debian's ``redis-server`` on loopback).
- **A whole request**: ``GET /documents?kb=alpha`` on a knowledge base of 20 chunks,
  through the app in process (``httpx.ASGITransport``, no socket), with each
  configuration's app; the difference from the open service is what keys add.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from app.auth.access import Access
from app.auth.keys import Grants, mint_key
from app.auth.store import FileKeyStore, KeyStore, RedisKeyStore
from app.server import create_app
from app.settings import Settings
from bench.harness import fmt, free_port, run_alone, summary
from bench.report import Section

ROUNDS = 200
CHECKS_PER_ROUND = 50
KEYS_IN_FILE = 1000
KB = "alpha"


@contextlib.contextmanager
def redis_url(home: Path) -> Iterator[str]:
    """Debian's redis-server on a free loopback port, nothing persisted."""
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(home),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            != "PONG"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _scoped(store: KeyStore, fill: int) -> str:
    """``fill`` keys in ``store``; the token of the last, which reads alpha."""
    token = ""
    for n in range(fill):
        record, token = mint_key(Grants(name=f"team-{n}", read=[KB]))
        await store.add(record)
    return f"Bearer {token}"


async def configurations(work: Path, url: str) -> dict[str, tuple[Access, str | None]]:
    """Each configuration's access check and the header its caller sends."""
    file_store = FileKeyStore(work / "keys.json")
    redis_store = RedisKeyStore(url)

    def access(store: KeyStore, admin_key: str | None = None) -> Access:
        return Access(store, admin_key=admin_key, protect_reads=True, default_kb=KB)

    open_access = Access(
        FileKeyStore(work / "none.json"), admin_key=None, protect_reads=False, default_kb=KB
    )
    return {
        "open (no key anywhere)": (open_access, None),
        "RAG_API_KEY": (
            access(FileKeyStore(work / "empty.json"), "bench-admin"),
            "Bearer bench-admin",
        ),
        f"key file ({KEYS_IN_FILE:,} keys)": (
            access(file_store),
            await _scoped(file_store, KEYS_IN_FILE),
        ),
        "Redis": (access(redis_store), await _scoped(redis_store, 100)),
    }


async def check_alone(configs: dict[str, tuple[Access, str | None]]) -> dict[str, list[float]]:
    """Microseconds per resolve + check, each round's mean of ``CHECKS_PER_ROUND``."""
    times: dict[str, list[float]] = {label: [] for label in configs}
    for _ in range(ROUNDS):
        for label, (access, header) in configs.items():
            started = time.perf_counter()
            for _ in range(CHECKS_PER_ROUND):
                access.check(await access.resolve(header), "read", KB)
            times[label].append((time.perf_counter() - started) / CHECKS_PER_ROUND * 1e6)
    return times


def _settings(work: Path, label: str, url: str) -> tuple[Settings, str | None]:
    home = work / label.split()[0].replace("_", "-").lower()
    common: dict[str, Any] = {"chroma_path": home / "chroma", "keys_path": home / "keys.json"}
    if label.startswith("open"):
        return Settings(_env_file=None, **common), None  # type: ignore[call-arg]
    if label == "RAG_API_KEY":
        return Settings(
            _env_file=None,
            api_key="bench-admin",
            protect_reads=True,  # type: ignore[call-arg]
            **common,
        ), "Bearer bench-admin"
    extra = {"redis_url": url} if label == "Redis" else {}
    return Settings(_env_file=None, protect_reads=True, **common, **extra), None  # type: ignore[call-arg]


async def whole_requests(work: Path, url: str, embeddings: Any) -> dict[str, list[float]]:
    """Microseconds per ``GET /documents?kb=alpha`` for each configuration's app."""
    clients: dict[str, tuple[httpx.AsyncClient, dict[str, str]]] = {}
    labels = ["open (no key anywhere)", "RAG_API_KEY", f"key file ({KEYS_IN_FILE:,} keys)", "Redis"]
    for label in labels:
        settings, header = _settings(work, label, url)
        app = create_app(settings, embeddings=embeddings)
        services = app.state.services
        services.kbs.create(KB)
        docs = [{"id": f"d{i}", "content": f"Document {i} about alpha."} for i in range(20)]
        async for _ in services.kbs.get(KB).ingestor.run(docs):
            pass
        if header is None and not label.startswith("open"):
            header = await _scoped(services.access.store, KEYS_IN_FILE if "file" in label else 100)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://b")
        clients[label] = (client, {"Authorization": header} if header else {})
    times: dict[str, list[float]] = {label: [] for label in labels}
    try:
        for _ in range(ROUNDS // 4):
            for label, (client, headers) in clients.items():
                started = time.perf_counter()
                for _ in range(10):
                    response = await client.get("/documents", params={"kb": KB}, headers=headers)
                    assert response.status_code == 200, response.text
                times[label].append((time.perf_counter() - started) / 10 * 1e6)
    finally:
        for client, _ in clients.values():
            await client.aclose()
    return times


async def run(work: Path, logs: Path) -> dict[str, Any]:
    from chains.embeddings import build_embeddings

    work = work / "keys"
    await asyncio.to_thread(work.mkdir)
    embeddings = build_embeddings("local")
    with redis_url(work) as url:
        configs = await configurations(work, url)
        alone = await check_alone(configs)
        whole = await whole_requests(work, url, embeddings)
    return {"alone": alone, "whole": whole}


def section(r: dict[str, Any]) -> Section:
    """The report's section 19."""
    alone = {label: summary(values) for label, values in r["alone"].items()}
    whole = {label: summary(values) for label, values in r["whole"].items()}
    base = next(iter(whole.values()))["p50"]
    alone_rows = "\n".join(
        f"| {label} | {fmt(f['p50'])} | {fmt(f['p95'])} |" for label, f in alone.items()
    )
    whole_rows = "\n".join(
        f"| {label} | {fmt(f['p50'], 0)} | {fmt(f['p95'], 0)} | {fmt(f['p50'] - base, 0)} |"
        for label, f in whole.items()
    )
    body = f"""The key check is resolved once per request (Starlette's authentication middleware)
and checked against the knowledge base before any store call. Interleaved rounds, one
configuration after the other in each.

**The check alone** (resolve the bearer header, check read on one knowledge base), µs
per request; {ROUNDS} rounds of {CHECKS_PER_ROUND}:

| configuration | p50 | p95 |
| --- | ---: | ---: |
{alone_rows}

**A whole request**, `GET /documents?kb={KB}` (20 chunks), in process through the app,
µs; {ROUNDS // 4} rounds of 10 each:

| configuration | p50 | p95 | p50 minus open |
| --- | ---: | ---: | ---: |
{whole_rows}
"""
    file_label = f"key file ({KEYS_IN_FILE:,} keys)"
    return Section(
        19,
        "Scoped keys: the cost of the check per request",
        body,
        headline=[
            f"Key check per request: {fmt(alone[file_label]['p50'])} µs with the key file, "
            f"{fmt(alone['Redis']['p50'])} µs with Redis (p50)"
        ],
    )


if __name__ == "__main__":
    run_alone(run, section, prefix="bench-keys-")
