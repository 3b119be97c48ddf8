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
import time
from pathlib import Path
from typing import Any

import httpx

from app.auth.access import Access
from app.auth.keys import Grants, mint_key
from app.auth.store import KeyStore
from app.server import create_app
from app.settings import Settings
from bench.harness import fmt, redis_server, run_alone, summary
from bench.report import Section

ROUNDS = 200
CHECKS_PER_ROUND = 50
KEYS_IN_FILE = 1000
KB = "alpha"

OPEN = "open (no key anywhere)"
ENV_KEY = "RAG_API_KEY"
KEY_FILE = f"key file ({KEYS_IN_FILE:,} keys)"
REDIS = "Redis"
ADMIN_SECRET = "bench-admin"


async def _scoped(store: KeyStore, fill: int) -> str:
    """``fill`` keys in ``store``; the header of the last, which reads alpha."""
    token = ""
    for n in range(fill):
        record, token = mint_key(Grants(name=f"team-{n}", read=[KB]))
        await store.add(record)
    return f"Bearer {token}"


async def configurations(
    work: Path, url: str, embeddings: Any
) -> dict[str, tuple[Any, str | None]]:
    """Each configuration's app (a knowledge base of 20 chunks) and its caller's header."""
    # Each configuration's settings, and how many scoped keys its store holds (None: its
    # caller sends no scoped key; the RAG_API_KEY caller sends the admin key).
    table: dict[str, tuple[dict[str, Any], int | None]] = {
        OPEN: ({}, None),
        ENV_KEY: ({"api_key": ADMIN_SECRET, "protect_reads": True}, None),
        KEY_FILE: ({"protect_reads": True}, KEYS_IN_FILE),
        REDIS: ({"protect_reads": True, "redis_url": url}, 100),
    }
    built: dict[str, tuple[Any, str | None]] = {}
    for n, (label, (extra, fill)) in enumerate(table.items()):
        home = work / f"config-{n}"
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, chroma_path=home / "chroma", keys_path=home / "keys.json", **extra
        )
        app = create_app(settings, embeddings=embeddings)
        services = app.state.services
        services.kbs.create(KB)
        docs = [{"id": f"d{i}", "content": f"Document {i} about alpha."} for i in range(20)]
        async for _ in services.kbs.get(KB).ingestor.run(docs):
            pass
        header = f"Bearer {ADMIN_SECRET}" if label == ENV_KEY else None
        if fill is not None:
            header = await _scoped(services.access.store, fill)
        built[label] = (app, header)
    return built


async def check_alone(configs: dict[str, tuple[Any, str | None]]) -> dict[str, list[float]]:
    """Microseconds per resolve + check, each round's mean of ``CHECKS_PER_ROUND``."""
    times: dict[str, list[float]] = {label: [] for label in configs}
    for _ in range(ROUNDS):
        for label, (app, header) in configs.items():
            access: Access = app.state.access
            started = time.perf_counter()
            for _ in range(CHECKS_PER_ROUND):
                access.check(await access.resolve(header), "read", KB)
            times[label].append((time.perf_counter() - started) / CHECKS_PER_ROUND * 1e6)
    return times


async def whole_requests(configs: dict[str, tuple[Any, str | None]]) -> dict[str, list[float]]:
    """Microseconds per ``GET /documents?kb=alpha`` through each configuration's app."""
    clients = {
        label: (
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://b"),
            {"Authorization": header} if header else {},
        )
        for label, (app, header) in configs.items()
    }
    times: dict[str, list[float]] = {label: [] for label in configs}
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
    with redis_server(work) as url:
        configs = await configurations(work, url, embeddings)
        return {"alone": await check_alone(configs), "whole": await whole_requests(configs)}


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
    return Section(
        19,
        "Scoped keys: the cost of the check per request",
        body,
        headline=[
            f"Key check per request: {fmt(alone[KEY_FILE]['p50'])} µs with the key file, "
            f"{fmt(alone[REDIS]['p50'])} µs with Redis (p50)"
        ],
    )


if __name__ == "__main__":
    run_alone(run, section, prefix="bench-keys-")
