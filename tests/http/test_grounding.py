"""Live grounding over HTTP: each sentence of a streamed answer checked against its sources.

The scripted model server sends an answer whose sentences are known: one copied from
the retrieved document and cited to it, one copied from it but cited to another
source, and one invented. The real sample knowledge base (Chroma) retrieves the
sources and the service's own embedding model scores the sentences.
"""

import asyncio
import subprocess

import pytest
from langserve import RemoteRunnable
from sse_helpers import CLI, of_type, read_events, scripted_app, tokens_of

from bench.scripted_llm import Script
from chains.grounding import unit_rows
from chains.sentences import claim

pytestmark = pytest.mark.anyio

QUESTION = {"question": "What is backpressure?", "k": 2}
COPIED = (
    "Backpressure means a slow consumer slows down the producer instead of letting data pile up."
)
WRONG_SOURCE = "Backpressure keeps memory bounded because the bounded queue makes the producer wait"
INVENTED = "The moon is made of green cheese and orbits Jupiter every Tuesday."
ANSWER = [
    "Backpressure means a slow",
    " consumer slows down the producer instead of letting data pile up. [",
    "doc-00",
    "1] Backpressure keeps memory bounded because the bounded",
    " queue makes the producer wait [doc-002]",
    ". The moon is made of green cheese",
    " and orbits Jupiter every Tuesday.",
]
"""The three sentences, split mid-word, mid-citation and before a stop."""


async def test_each_sentence_is_scored_against_the_sources_as_it_is_written(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=ANSWER, rate=10)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        events = await read_events(server.url, json=QUESTION)
    payloads = [p for _, _, p in events]
    answer = "".join(tokens_of(events))
    sources = {s["cite"]: s for s in of_type(events, "source")}
    assert sources["doc-001"]["doc_id"] == "backpressure"
    assert sources["doc-002"]["doc_id"] != "backpressure"
    checks = of_type(events, "grounding")
    spans = [answer[c["start"] : c["end"]] for c in checks]
    assert spans == [f"{COPIED} [doc-001]", f"{WRONG_SOURCE} [doc-002].", INVENTED]
    copied, wrong, invented = checks
    assert copied["supported"] and copied["cite"] == "doc-001"
    assert copied["cited"] == ["doc-001"] and copied["citation_supported"] is True
    assert wrong["supported"] and wrong["cite"] == "doc-001", "its best source is the copied one"
    assert wrong["cited"] == ["doc-002"] and wrong["citation_supported"] is False
    assert not invented["supported"] and invented["citation_supported"] is None
    assert invented["score"] < copied["score"]
    # Live: the first sentence is judged while the model is still writing the rest.
    types = [p["type"] for p in payloads]
    last_token = len(types) - 1 - types[::-1].index("token")
    assert types.index("grounding") < last_token
    done = payloads[-1]
    assert done["type"] == "done"
    assert done["grounding"] == {
        "sentences": 3,
        "supported": 2,
        "supported_share": 0.667,
        "unsupported": [[answer.index(INVENTED), len(answer)]],
        "wrong_citations": 1,
        "complete": True,
    }


async def test_grounding_off_sends_no_check_and_no_summary(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=ANSWER)
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, grounding=False)
    with serve(app) as server:
        events = await read_events(server.url, json=QUESTION)
    assert "".join(tokens_of(events)) == "".join(ANSWER)
    assert of_type(events, "grounding") == []
    assert "grounding" not in events[-1][2]


async def test_remote_runnable_on_rag_events_yields_the_grounding_events(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=ANSWER)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        chunks = [c async for c in RemoteRunnable(f"{server.url}/rag/events").astream(QUESTION)]
    checks = [c for c in chunks if c["type"] == "grounding"]
    assert [c["supported"] for c in checks] == [True, True, False]
    assert chunks[-1]["grounding"]["wrong_citations"] == 1



async def test_cli_ask_prints_the_supported_share_and_the_unsupported_sentences(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=ANSWER)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        command = [str(CLI), "ask", "--url", server.url, "-k", "2", QUESTION["question"]]
        run = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=120
        )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "supported by the sources: 2 of 3 sentences (67%)" in lines
    assert f"  ✗ {INVENTED}" in lines
    assert not any(COPIED in line and "✗" in line for line in lines)
    assert "  1 sentence(s) cite a source that does not support them" in lines


async def test_real_engine_answer_is_checked_sentence_by_sentence(live_server, embeddings):
    events = await read_events(live_server, json={"question": "What is backpressure?", "k": 3})
    answer = "".join(tokens_of(events))
    sources = of_type(events, "source")
    checks = of_type(events, "grounding")
    assert events[-1][1] == "done" and checks, answer
    ends = [0, *(c["end"] for c in checks)]
    assert all(c["start"] >= ends[i] and c["end"] > c["start"] for i, c in enumerate(checks))
    # Scored again here, on the final text: the live scores are the offline ones.
    claims = [claim(answer[c["start"] : c["end"]]) for c in checks]
    again = unit_rows(embeddings.embed_documents(claims)) @ unit_rows(
        embeddings.embed_documents([s["content"] for s in sources])
    ).T
    for check, row in zip(checks, again, strict=True):
        assert check["score"] == pytest.approx(float(row.max()), abs=2e-3)
        assert check["cite"] == sources[int(row.argmax())]["cite"]
    summary = events[-1][2]["grounding"]
    assert summary["sentences"] == len(checks) and summary["complete"]
