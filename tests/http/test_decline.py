"""A question the knowledge base cannot answer reads as a decline on every door.

The real app on the sample knowledge base (real Chroma, the service's embedding model),
asked one question far from every document and one close to them but answered by
none ("reranking" appears in no sample document). Each door must say the decline
sentence where its clients read answers, and no model request may be made: the
scripted model server records every request, so an answer it wrote would show there.
"""

import asyncio
import subprocess

import httpx
import openai
import pytest
from sse_helpers import CLI, ai_sdk_chat, of_type, read_events, scripted_app, user

from bench.scripted_llm import Script
from chains.rag import NOT_IN_KNOWLEDGE_BASE

pytestmark = pytest.mark.anyio

ABSENT = ["Who painted the Mona Lisa?", "Explain reranking briefly."]
"""Off topic, and on topic but in no document (the sample-KB calibration, bench §11)."""


@pytest.fixture
def server(serve, kb_settings, embeddings, scripted_llm):
    scripted_llm.script = Script(tokens=["An", " answer", " nobody", " should", " see", "."])
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as running:
        yield running
    assert not scripted_llm.calls, "a declined question reached the model"


@pytest.mark.parametrize("question", ABSENT)
async def test_sse_decline_says_why_and_sends_the_sentence_in_done(server, question):
    events = await read_events(server.url, json={"question": question})
    statuses = [payload["message"] for payload in of_type(events, "status")]
    done = of_type(events, "done")[0]
    assert statuses[-1].startswith("nothing in the knowledge base scores")
    assert not of_type(events, "source") and not of_type(events, "token")
    assert done["answer"] == NOT_IN_KNOWLEDGE_BASE
    assert done["metrics"]["token_count"] == 0 and done["metrics"]["ttfs_ms"] is None


@pytest.mark.parametrize("question", ABSENT)
async def test_openai_door_decline_is_the_message_content(server, question):
    client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="none")
    async with client:
        completion = await client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": question}]
        )
        stream = await client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": question}], stream=True
        )
        deltas = [c.choices[0].delta.content async for c in stream if c.choices]
    assert completion.choices[0].message.content == NOT_IN_KNOWLEDGE_BASE
    assert completion.choices[0].finish_reason == "stop"
    assert "".join(d for d in deltas if d) == NOT_IN_KNOWLEDGE_BASE


@pytest.mark.parametrize("question", ABSENT)
async def test_ai_sdk_decline_is_the_message_text(server, question):
    read = await ai_sdk_chat(server.url, [user(question)])
    parts = read["message"]["parts"]
    assert [p["text"] for p in parts if p["type"] == "text"] == [NOT_IN_KNOWLEDGE_BASE]
    assert not [p for p in parts if p["type"] == "source-document"]
    assert read["chunks"][-1] == {"type": "finish", "finishReason": "stop"}


@pytest.mark.parametrize("question", ABSENT)
async def test_rag_chain_decline_is_the_answer_with_no_sources(server, question):
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        response = await client.post("/rag/invoke", json={"input": {"question": question}})
    assert response.json()["output"] == {"sources": [], "answer": NOT_IN_KNOWLEDGE_BASE}


async def test_cli_ask_prints_the_decline_instead_of_an_empty_answer(server):
    """Regression: ``ask`` printed only tokens, so a decline showed nothing at all and
    its metrics line read "first source None ms · ... None tok/s"."""
    command = [str(CLI), "ask", "--url", server.url, ABSENT[1]]
    run = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert NOT_IN_KNOWLEDGE_BASE in lines
    assert "None" not in run.stdout
    assert any("first source - · no tokens" in line for line in lines)
