"""``POST /ui/chat`` read by the Vercel AI SDK itself, from Node.

``ui_stream_client.mjs`` runs the ``ai`` package pinned in ``examples/`` (installed by
``make test``): ``DefaultChatTransport`` posts ``useChat``'s body and validates every
chunk with the SDK's own schema, ``readUIMessageStream`` builds the message. The app is
real, on the sample knowledge base in real Chroma; the scripted model sends a known
token list, or fails, or is left mid-answer.
"""

import json

import httpx
import pytest
from sse_helpers import ai_sdk_chat, model_request_ended, scripted_app, user

from bench.scripted_llm import Script

pytestmark = pytest.mark.anyio

TOKENS = ["Back", "pressure", " slows", " the", " producer", " [doc-001]", "."]


@pytest.fixture
def app(kb_settings, embeddings, scripted_llm):
    scripted_llm.script = Script(tokens=TOKENS)
    return scripted_app(kb_settings, embeddings, scripted_llm.base_url)


async def test_ai_sdk_reads_sources_before_text_then_citations_metrics_and_finish(serve, app):
    with serve(app) as server:
        read = await ai_sdk_chat(server.url, [user("What is backpressure?")], {"k": 3})

    chunks, message = read["chunks"], read["message"]
    types = [chunk["type"] for chunk in chunks]
    assert read["header"] == "v1"
    assert types[0] == "start" and types[-1] == "finish"
    first_text = types.index("text-start")
    assert types[:first_text].count("source-document") == 3
    assert "source-document" not in types[first_text:]
    assert [c["delta"] for c in chunks if c["type"] == "text-delta"] == TOKENS
    parts = message["parts"]
    documents = [p for p in parts if p["type"] == "source-document"]
    assert documents[0]["providerMetadata"]["rag"]["doc_id"] == "backpressure"
    assert documents[0]["providerMetadata"]["rag"]["cite"] == "doc-001"
    assert [p["text"] for p in parts if p["type"] == "text"] == ["".join(TOKENS)]
    citations = [p for p in parts if p["type"] == "data-citation"]
    assert [(p["id"], p["data"]["valid"]) for p in citations] == [("doc-001", True)]
    checks = [p["data"] for p in parts if p["type"] == "data-grounding"]
    assert [(g["text_id"], g["end"], g["supported"]) for g in checks] == [
        ("text-1", len("".join(TOKENS)), True)
    ]
    metrics = next(p for p in parts if p["type"] == "data-metrics")["data"]
    assert metrics["cited"] == ["doc-001"] and metrics["metrics"]["token_count"] == len(TOKENS)
    assert "data-status" not in {p["type"] for p in parts}, "status parts are transient"


async def test_earlier_messages_parts_reach_the_model_as_history(serve, app, scripted_llm):
    messages = [
        user("What is the okapi relay?", "u1"),
        {
            "id": "a1",
            "role": "assistant",
            "parts": [{"type": "text", "text": "The okapi relay forwards every batch twice."}],
        },
        user("What is backpressure?", "u2"),
    ]
    with serve(app) as server:
        read = await ai_sdk_chat(server.url, messages)

    assert read["chunks"][-1]["type"] == "finish"
    assert "okapi relay forwards every batch twice" in str(scripted_llm.calls[-1].body["messages"])


async def test_a_model_failing_mid_answer_ends_with_the_sdks_error_chunk(
    serve, app, scripted_llm
):
    scripted_llm.script = Script(tokens=40, die_after=3)
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            response = await client.post(
                "/ui/chat", json={"messages": [user("What is backpressure?")]}
            )
    lines = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    chunks = [json.loads(line) for line in lines[:-1]]
    assert lines[-1] == "[DONE]"
    assert [c["type"] for c in chunks].count("text-delta") == 3
    assert chunks[-1]["type"] == "error" and chunks[-1]["errorText"]
    assert "finish" not in [c["type"] for c in chunks]


async def test_a_client_that_leaves_mid_answer_cancels_the_model_request(
    serve, app, scripted_llm
):
    scripted_llm.script = Script(tokens=400, rate=50)
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            body = {"messages": [user("What is backpressure?")]}
            async with client.stream("POST", "/ui/chat", json=body) as response:
                async for line in response.aiter_lines():
                    if '"text-delta"' in line:
                        break
        call = await model_request_ended(scripted_llm, within_s=10)
    assert call.client_disconnected and call.tokens_sent < 400


async def test_bad_chats_are_refused_as_plain_text_before_any_chunk(serve, app, scripted_llm):
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            refused = [
                await client.post("/ui/chat", json=body)
                for body in (
                    {"messages": []},
                    {"messages": [{"id": "a", "role": "assistant", "parts": []}]},
                    {"messages": [user("What is backpressure?")], "kb": "nowhere"},
                    {"messages": [user("x" * 5000)]},
                )
            ]
    assert [r.status_code for r in refused] == [422, 422, 404, 422]
    assert all(r.headers["content-type"].startswith("text/plain") for r in refused)
    assert "messages" in refused[0].text and "last message" in refused[1].text
    assert "nowhere" in refused[2].text and "question" in refused[3].text
    assert not scripted_llm.calls
