"""Scoped keys attacked as a caller would: look-alike names, filters, streams of others.

b-reader (reads beta only) names alpha, look-alikes of it and names built to slip past
a check, on every door that takes a knowledge base; then filters with operators over
``doc_id`` on its own knowledge base; then someone else's stream. Pass: each is refused
before Chroma (a 422 for a name Chroma would refuse; for a real name it may not read, a
404 whose body is the one a missing name gets) or answers only from beta, and the
canary of alpha appears in no response.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from keyed_world import CANARY, QUESTION, keyed_world

NAMES = [
    "alpha",
    "ALPHA",
    "Alpha",
    "alpha.",
    "..alpha",
    "alpha/../beta",
    "beta/../alpha",
    "alpha ",
    "alpha\x00",
    "*",
    "alpha,beta",
    "streaming_rag",
]
"""Another team's name, look-alikes, traversal, a wildcard, a list, the default's name."""

MISSING = "gamma-missing"


def doors(kb: str) -> dict[str, dict[str, Any]]:
    """One request naming ``kb`` on every door that takes a knowledge base."""
    turn = [{"role": "user", "content": QUESTION}]
    ui_turn = [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": QUESTION}]}]
    question = {"question": QUESTION, "kb": kb, "k": 2}
    return {
        "POST /rag/sse": {"method": "POST", "url": "/rag/sse", "json": question},
        "GET /rag/sse": {"method": "GET", "url": "/rag/sse", "params": {"q": QUESTION, "kb": kb}},
        "/rag/invoke": {"method": "POST", "url": "/rag/invoke", "json": {"input": question}},
        "/rag/batch": {"method": "POST", "url": "/rag/batch", "json": {"inputs": [question]}},
        "/rag/events/stream": {
            "method": "POST",
            "url": "/rag/events/stream",
            "json": {"input": question},
        },
        "/summarize/invoke": {
            "method": "POST",
            "url": "/summarize/invoke",
            "json": {"input": {"doc_id": "zebra", "kb": kb}},
        },
        "/summarize/sse": {
            "method": "POST",
            "url": "/summarize/sse",
            "json": {"doc_id": "zebra", "kb": kb},
        },
        "/v1/chat/completions": {
            "method": "POST",
            "url": "/v1/chat/completions",
            "json": {"model": f"rag:{kb}", "messages": turn},
        },
        "/ui/chat": {"method": "POST", "url": "/ui/chat", "json": {"kb": kb, "messages": ui_turn}},
        "/documents": {"method": "GET", "url": "/documents", "params": {"kb": kb}},
        "/documents/zebra": {"method": "GET", "url": "/documents/zebra", "params": {"kb": kb}},
        "/index": {
            "method": "POST",
            "url": "/index",
            "json": {"kb": kb, "documents": [{"id": "planted", "content": "planted"}]},
        },
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory, local_llm, embeddings, serve):
    with keyed_world(tmp_path_factory.mktemp("attacks"), local_llm.port, embeddings, serve) as made:
        yield made[1]


def test_other_teams_names_and_look_alikes_are_refused_like_missing_ones_on_every_door(world):
    as_b = world.as_("b_reader")
    missing = {
        door: world.client.request(headers=as_b, **req) for door, req in doors(MISSING).items()
    }
    assert all(r.status_code == 404 for r in missing.values()), {
        d: r.status_code for d, r in missing.items()
    }
    seen: dict[tuple[str, str], int] = {}
    for name in NAMES:
        for door, request in doors(name).items():
            response = world.client.request(headers=as_b, **request)
            seen[door, name] = response.status_code
            assert CANARY not in response.text, (door, name)
            invalid = 400 if door.startswith("/v1") else 422  # OpenAI's form of a 422
            assert response.status_code in (404, invalid), (door, name, response.text[:200])
            if response.status_code == 404:
                assert response.text.replace(repr(name)[1:-1], "?") == missing[door].text.replace(
                    MISSING, "?"
                ), (door, name)
    # The look-alikes that are valid names (ALPHA, Alpha) exist nowhere: a 404 too.
    assert seen["/documents", "alpha"] == seen["/documents", "ALPHA"] == 404
    # The owner of alpha still gets it through the same doors.
    as_a = world.as_("a_reader")
    owned = world.client.get("/documents/zebra", params={"kb": "alpha"}, headers=as_a)
    assert owned.status_code == 200 and CANARY in owned.text


def mcp_tool_error(world, headers, tool: str, arguments: dict[str, Any]) -> str:
    """Call an MCP tool with a raw JSON-RPC POST; the text of its result, which must be an error."""
    call = {"name": tool, "arguments": arguments}
    response = world.client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call},
        headers={**headers, "Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 200, response.text[:300]
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    result = json.loads(data[-1])["result"]
    assert result["isError"] is True, result
    return str(result["content"][0]["text"])


def test_other_teams_names_on_the_mcp_tools_are_refused_like_missing_ones(world):
    as_b = world.as_("b_reader")
    calls = {
        "search": lambda kb: {"query": QUESTION, "kb": kb},
        "ask": lambda kb: {"question": QUESTION, "kb": kb},
    }
    for tool, arguments in calls.items():
        missing = mcp_tool_error(world, as_b, tool, arguments(MISSING))
        assert "no knowledge base" in missing
        for name in NAMES:
            text = mcp_tool_error(world, as_b, tool, arguments(name))
            assert CANARY not in text, (tool, name)
            if "no knowledge base" in text:
                assert text.replace(repr(name)[1:-1], "?") == missing.replace(MISSING, "?")


FILTERS = [
    {"doc_id": {"$ne": "otters"}},
    {"$or": [{"doc_id": "zebra"}, {"doc_id": "otters"}]},
    {"doc_id": {"$in": ["zebra", "otters"]}},
    {"kb": "alpha"},
    {"doc_id": "zebra"},
]


@pytest.mark.parametrize("search_filter", FILTERS, ids=lambda f: json.dumps(f))
def test_metadata_filters_with_operators_return_only_the_callers_own_chunks(world, search_filter):
    as_b = world.as_("b_reader")
    question = {"question": QUESTION, "kb": "beta", "k": 4, "filter": search_filter}
    responses = [
        world.client.post("/rag/sse", json=question, headers=as_b),
        world.client.get(
            "/rag/sse",
            params={"q": QUESTION, "kb": "beta", "filter": json.dumps(search_filter)},
            headers=as_b,
        ),
        world.client.post("/rag/invoke", json={"input": question}, headers=as_b),
        world.client.post("/rag/events/stream", json={"input": question}, headers=as_b),
    ]
    for response in responses:
        assert response.status_code in (200, 422), response.text[:300]
        assert CANARY not in response.text
        if response.status_code == 200:  # a 422 may quote the filter, which names zebra
            assert '"doc_id":"zebra"' not in response.text.replace(" ", "")
    # Through a-reader's key (no read on beta): refused too, as invalid or as missing.
    refused = world.client.post("/rag/sse", json=question, headers=world.as_("a_reader"))
    assert refused.status_code in (404, 422) and CANARY not in refused.text


def _stream_id(response) -> str:
    ids = [line[4:] for line in response.text.splitlines() if line.startswith("id: ")]
    assert ids, response.text[:300]
    return ids[-1].rpartition("-")[0], ids[-1]


def test_a_stream_belongs_to_the_key_that_started_it(world):
    as_a = world.as_("a_reader")
    started = world.client.post(
        "/rag/sse", json={"question": QUESTION, "kb": "alpha"}, headers=as_a
    )
    stream_id, last = _stream_id(started)
    first = f"{stream_id}-1"
    unknown = world.client.get("/rag/sse", headers={"Last-Event-ID": "0123456789abcdef-1", **as_a})
    for other in ("b_reader", "admin", "a_writer"):
        resumed = world.client.get("/rag/sse", headers={"Last-Event-ID": first, **world.as_(other)})
        assert resumed.status_code == 404, (other, resumed.text[:200])
        assert CANARY not in resumed.text
        assert resumed.json()["detail"].replace(stream_id, "?") == unknown.json()["detail"].replace(
            "0123456789abcdef", "?"
        )
        cancelled = world.client.delete(f"/rag/sse/{stream_id}", headers=world.as_(other))
        assert cancelled.status_code == 404
    forged = world.client.get(
        "/rag/sse",
        headers={
            "Last-Event-ID": f"{world.scratch['b_reader_id']}{first[first.index('.') :]}",
            **world.as_("b_reader"),
        },
    )
    assert forged.status_code == 404  # another owner's prefix on the same random part
    own = world.client.get("/rag/sse", headers={"Last-Event-ID": first, **as_a})
    assert own.status_code == 200 and CANARY in own.text and f"id: {last}" in own.text
