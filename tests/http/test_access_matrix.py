"""Every route the app serves against seven principals, read from the app's own route table.

Knowledge base ``alpha`` holds a document carrying a canary string; ``beta`` another
team's. The principals: the admin key (``RAG_API_KEY``), a key that reads alpha, one
that writes alpha, one that reads beta, a revoked key, a wrong key and no key, with
reads protected. Each route has one policy in :data:`POLICIES`; the test fails when
the app serves a route the table does not name (hidden ones included), so a door
added later without a policy is caught. Pass: every refusal is the documented status,
the canary appears in no response to a principal that may not read alpha, and then the
owners' own requests succeed (with the canary where the route shows documents), so a
route that refuses everyone cannot pass. Real uvicorn, real Chroma, the real engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from keyed_world import CANARY, QUESTION, World, keyed_world
from langserve.lzstring import LZString

from app.auth.dependencies import _caller

CONFIG_HASH = LZString.compressToEncodedURIComponent("{}")
PRINCIPALS = ("none", "wrong", "revoked", "b_reader", "a_writer", "a_reader", "admin")
"""Refused principals first, so the owners' requests come after every refusal."""

PUBLIC = "public"
READER = "reader"  # reads, but names no knowledge base
READ_A = "read alpha"
WRITE_A = "write alpha"
ADMIN = "admin"
OWNER = "owner"  # a stream a-reader started

REFUSED: dict[str, dict[str, int]] = {
    PUBLIC: {},
    READER: {"none": 401, "wrong": 401, "revoked": 401},
    READ_A: {"none": 401, "wrong": 401, "revoked": 401, "b_reader": 404, "a_writer": 404},
    WRITE_A: {"none": 401, "wrong": 401, "revoked": 401, "b_reader": 404, "a_reader": 403},
    ADMIN: {
        **{"none": 401, "wrong": 401, "revoked": 401},
        **{"b_reader": 403, "a_writer": 403, "a_reader": 403},
    },
    OWNER: {
        **{"none": 401, "wrong": 401, "revoked": 401},
        **{"b_reader": 404, "a_writer": 404, "admin": 404},
    },
}


Request = Callable[[World], dict[str, Any]]


@dataclass
class Policy:
    kind: str
    request: Request
    shows: str | None = CANARY
    """What the owners' response must contain (None: only a success status)."""
    ok: frozenset[int] = frozenset({200})
    prepare: Callable[[World], None] | None = None
    """Run (as admin) before each allowed request, for writes that consume their target."""


def rag_input(_: World) -> dict[str, Any]:
    return {"json": {"input": {"question": QUESTION, "kb": "alpha", "k": 2}}}


def rag_batch(_: World) -> dict[str, Any]:
    return {"json": {"inputs": [{"question": QUESTION, "kb": "alpha", "k": 2}]}}


def summary_input(_: World) -> dict[str, Any]:
    return {"json": {"input": {"doc_id": "zebra", "kb": "alpha"}}}


def summary_batch(_: World) -> dict[str, Any]:
    return {"json": {"inputs": [{"doc_id": "zebra", "kb": "alpha"}]}}


def nothing(_: World) -> dict[str, Any]:
    return {}


def langserve_policies() -> dict[tuple[str, str], Policy]:
    """The same policies for each runnable, with and without a config hash."""
    runnables = {
        "/rag": (rag_input, rag_batch, CANARY),
        "/rag/events": (rag_input, rag_batch, CANARY),
        "/summarize": (summary_input, summary_batch, None),
    }
    table: dict[tuple[str, str], Policy] = {}
    for (base, (one, batch, shows)), hashed in itertools.product(runnables.items(), (0, 1)):
        prefix = f"{base}/c/{{config_hash}}" if hashed else base
        # The event runnable's invoke is its last event, ``done``, which holds no source.
        whole = '"type":"done"' if base == "/rag/events" else shows
        for verb in ("stream", "stream_log"):
            table["POST", f"{prefix}/{verb}"] = Policy(READ_A, one, shows)
        # The event runnable's stream_events carries no event of ours, only LangServe's end.
        events = "event: end" if base == "/rag/events" else shows
        table["POST", f"{prefix}/stream_events"] = Policy(READ_A, one, events)
        table["POST", f"{prefix}/invoke"] = Policy(READ_A, one, whole)
        table["POST", f"{prefix}/batch"] = Policy(READ_A, batch, whole)
        for schema in ("input_schema", "output_schema", "config_schema"):
            table["GET", f"{prefix}/{schema}"] = Policy(READER, nothing, None)
        table["GET", f"{prefix}/playground/{{file_path:path}}"] = Policy(READER, nothing, None)
        if not hashed:  # LangSmith feedback is off: a 400 for whoever may use it
            feedback = {"json": {"token_or_url": "x", "score": 1}}
            table["POST", f"{prefix}/token_feedback"] = Policy(
                READER, lambda _, f=feedback: f, None, ok=frozenset({400, 422})
            )
    return table


def mcp_search_alpha(_: World) -> dict[str, Any]:
    """An MCP ``tools/call`` of ``search`` in alpha: only its readers see the canary."""
    call = {"name": "search", "arguments": {"query": QUESTION, "kb": "alpha"}}
    return {
        "json": {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call},
        "headers": {"Accept": "application/json, text/event-stream"},
    }


def index_scratch(world: World) -> None:
    world.admin(
        "POST", "/index", json={"kb": "alpha", "documents": [{"id": "scratch", "content": "x"}]}
    )


def scratch_kb(world: World) -> None:
    if world.client.get("/kbs", headers=world.as_("admin")).text.count('"scratch-kb"') == 0:
        world.admin("POST", "/kbs", json={"name": "scratch-kb"})


def throwaway_key(world: World) -> None:
    made = world.admin("POST", "/keys", json={"name": "throwaway", "read": ["beta"]}).json()
    world.scratch["key"] = made["id"]


def a_reader_stream(world: World) -> None:
    response = world.client.post(
        "/rag/sse",
        json={"question": QUESTION, "kb": "alpha", "k": 1},
        headers=world.as_("a_reader"),
    )
    ids = [line[4:] for line in response.text.splitlines() if line.startswith("id: ")]
    world.scratch["stream"] = ids[-1].rpartition("-")[0]


def target_key(world: World) -> str:
    """Refused principals try to revoke a-reader's key; the admin revokes a throwaway."""
    return world.scratch.get("key") or world.scratch["a_reader_id"]


POLICIES: dict[tuple[str, str], Policy] = {
    **langserve_policies(),
    **{
        ("GET", path): Policy(PUBLIC, nothing, None)
        for path in (
            "/health",
            "/health/live",
            "/health/ready",
            "/metrics",
            "/",
            "/openapi.json",
            "/docs",
            "/docs/oauth2-redirect",
            "/redoc",
        )
    },
    ("GET", "/static"): Policy(PUBLIC, lambda _: {"url": "/static/page.js"}, None),
    ("POST", "/rag/sse"): Policy(
        READ_A, lambda _: {"json": {"question": QUESTION, "kb": "alpha", "k": 2}}
    ),
    ("GET", "/rag/sse"): Policy(
        READ_A, lambda _: {"params": {"q": QUESTION, "kb": "alpha", "k": 2}}
    ),
    ("DELETE", "/rag/sse/{stream_id}"): Policy(
        OWNER, lambda w: {"url": f"/rag/sse/{w.scratch['stream']}"}, None, ok=frozenset({204})
    ),
    ("POST", "/summarize/sse"): Policy(
        READ_A, lambda _: {"json": {"doc_id": "zebra", "kb": "alpha"}}, "summary_done"
    ),
    ("POST", "/v1/chat/completions"): Policy(
        READ_A,
        lambda _: {
            "json": {"model": "rag:alpha", "messages": [{"role": "user", "content": QUESTION}]}
        },
    ),
    ("GET", "/v1/models"): Policy(READER, nothing, None),
    ("POST", "/ui/chat"): Policy(
        READ_A,
        lambda _: {
            "json": {
                "kb": "alpha",
                "messages": [
                    {"id": "u1", "role": "user", "parts": [{"type": "text", "text": QUESTION}]}
                ],
            }
        },
        "source-document",
    ),
    **{
        ("POST", path): Policy(READER, mcp_search_alpha, '"result"')
        for path in ("/mcp", "/mcp/")
    },
    ("GET", "/documents"): Policy(READ_A, lambda _: {"params": {"kb": "alpha"}}),
    ("GET", "/documents/{doc_id}"): Policy(
        READ_A, lambda _: {"url": "/documents/zebra", "params": {"kb": "alpha"}}
    ),
    ("POST", "/index"): Policy(
        WRITE_A,
        lambda _: {"json": {"kb": "alpha", "documents": [{"id": "new", "content": "y"}]}},
        '"indexed":1',
    ),
    ("POST", "/index/sse"): Policy(
        WRITE_A,
        lambda _: {"json": {"kb": "alpha", "documents": [{"id": "new", "content": "y"}]}},
        "pipeline_done",
    ),
    ("POST", "/index/files/sse"): Policy(
        WRITE_A,
        lambda _: {"params": {"kb": "alpha"}, "files": {"files": ("upload.txt", b"uploaded text")}},
        "pipeline_done",
    ),
    ("DELETE", "/documents/{doc_id}"): Policy(
        WRITE_A,
        lambda _: {"url": "/documents/scratch", "params": {"kb": "alpha"}},
        '"scratch"',
        prepare=index_scratch,
    ),
    ("DELETE", "/documents"): Policy(
        WRITE_A,
        lambda _: {"params": {"kb": "alpha"}, "json": {"ids": ["scratch"]}},
        '"scratch"',
        prepare=index_scratch,
    ),
    ("GET", "/kbs"): Policy(READER, nothing, None),
    ("POST", "/kbs"): Policy(
        ADMIN, lambda _: {"json": {"name": "made-by-matrix"}}, None, ok=frozenset({201})
    ),
    ("DELETE", "/kbs/{name}"): Policy(
        ADMIN, lambda _: {"url": "/kbs/scratch-kb"}, None, ok=frozenset({204}), prepare=scratch_kb
    ),
    ("GET", "/keys"): Policy(ADMIN, nothing, '"a-reader"'),
    ("POST", "/keys"): Policy(
        ADMIN, lambda _: {"json": {"name": "made", "read": ["alpha"]}}, "srk_", ok=frozenset({201})
    ),
    ("DELETE", "/keys/{key_id}"): Policy(
        ADMIN,
        lambda w: {"url": f"/keys/{target_key(w)}"},
        None,
        ok=frozenset({204}),
        prepare=throwaway_key,
    ),
}


def served_routes(app) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, hidden routes and mounts included."""
    served = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or {"GET"}:  # a mount (static files) answers GET
            if method != "HEAD":
                served.add((method, route.path))
    return served


@pytest.fixture(scope="module")
def world(tmp_path_factory, local_llm, embeddings, serve):
    with keyed_world(tmp_path_factory.mktemp("matrix"), local_llm.port, embeddings, serve) as made:
        yield made


def test_every_served_route_has_a_policy_and_every_policy_a_route(world):
    app, _ = world
    served = served_routes(app)
    assert served - POLICIES.keys() == set(), "routes without an access policy"
    assert POLICIES.keys() - served == set(), "policies for routes the app does not serve"


def test_every_route_but_the_public_ones_depends_on_the_resolved_caller(world):
    """What the matrix relies on, read from the route table: no route skips the one check."""
    app, _ = world
    unchecked = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        for method in route.methods or {"GET"}:
            policy = POLICIES.get((method, route.path))
            checked = dependant is None or _caller in _calls(dependant)
            if policy and policy.kind != PUBLIC and not checked:
                unchecked.append((method, route.path))
    assert unchecked == []


def _calls(dependant) -> set:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def test_access_matrix_refuses_as_documented_and_leaks_no_canary(world):
    _, world = world
    outcomes: dict[tuple[str, str, str], int] = {}
    leaks = []
    for (method, path), policy in sorted(POLICIES.items(), key=lambda item: item[1].kind == OWNER):
        if policy.kind == OWNER:
            a_reader_stream(world)
        for principal in PRINCIPALS:
            allowed = principal not in REFUSED[policy.kind]
            if allowed and policy.prepare:
                policy.prepare(world)
            url = path.replace("{config_hash}", CONFIG_HASH).replace(
                "{file_path:path}", "index.html"
            )
            request = {"url": url, **policy.request(world)}
            headers = {**world.as_(principal), **request.pop("headers", {})}
            response = world.client.request(method, headers=headers, **request)
            outcomes[method, path, principal] = response.status_code
            may_read_alpha = principal in ("admin", "a_reader")
            if CANARY in response.text and not may_read_alpha:
                leaks.append((method, path, principal))
            if allowed:
                assert response.status_code in policy.ok, (method, path, principal, response.text)
                if policy.shows:
                    assert policy.shows in response.text, (method, path, principal, response.text)
            else:
                expected = REFUSED[policy.kind][principal]
                assert response.status_code == expected, (
                    method,
                    path,
                    principal,
                    response.status_code,
                    response.text[:300],
                )
    assert leaks == []
    refusals = sum(
        1
        for (m, p, who), s in outcomes.items()
        if s in (401, 403, 404) and who in REFUSED[POLICIES[m, p].kind]
    )
    assert refusals > 200, refusals
