"""Progressive context and incremental search over HTTP: real app, Chroma and model server.

The real model answers wherever the behaviour does not depend on exact tokens or timing.
Where it does, a later wave is forced to be slow and to rank a chunk of our choosing
first (:class:`ForcedWave`), and the scripted model server streams a known answer at a
known rate, so a revise is sure to land mid-draft and every token can be checked.
"""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from sse_helpers import (
    assert_engine_goes_idle,
    assert_well_formed_answer,
    engine_metric,
    of_type,
    read_events,
    scripted_app,
    tokens_of,
)

from app.server import create_app
from bench.scripted_llm import Script
from chains.rag import NOT_IN_KNOWLEDGE_BASE
from chains.retriever import ScoredRetriever

pytestmark = pytest.mark.anyio

HYBRID_QUESTION = {"question": "How does hybrid search fuse BM25 with vectors?", "k": 3}
ABSENT_QUESTION = {"question": "Who painted the Mona Lisa?", "k": 3}


async def engine_decodes(url: str) -> float:
    """llama-server's count of decode calls: it rises with every request it serves."""
    return await engine_metric(url, "n_decode_total")


class ForcedWave(BaseRetriever):
    """A later wave forced to be slow and to rank chunks of the test's choosing.

    ``order`` names positions in the vector ranking: ``(3, 0, 1)`` puts the chunk wave 1
    ranked fourth (with ``k=3``, one wave 1 did not return) first.
    """

    vector: ScoredRetriever
    delay_s: float
    order: tuple[int, ...]

    def _get_relevant_documents(self, query, *, run_manager, **options):
        raise NotImplementedError("the event stream runs waves async")

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k=4, filter=None
    ) -> list[Document]:
        await asyncio.sleep(self.delay_s)
        hits = await self.vector.ainvoke(query, k=max(self.order) + 1, filter=filter)
        return [hits[i] for i in self.order]


def forced_wave_app(kb_settings, embeddings, base_url, order, delay_s=0.5, **settings):
    app = scripted_app(kb_settings, embeddings, base_url, **settings)
    services = app.state.services
    wave = ForcedWave(name="forced", vector=services.retriever, delay_s=delay_s, order=order)
    stream = services.event_stream
    stream.progressive = dataclasses.replace(stream.progressive, waves=[wave])
    return app


# -- progressive context with the real model -------------------------------------------


async def test_progressive_streams_wave_one_sources_then_a_context_update(live_server):
    events = await read_events(live_server, json={**HYBRID_QUESTION, "progressive": True})
    types, done = assert_well_formed_answer(events)
    sources = of_type(events, "source")
    assert [s["cite"] for s in sources] == ["doc-001", "doc-002", "doc-003"]
    (update,) = of_type(events, "context_update")
    assert update["wave"] == 2 and update["total_waves"] == 2
    assert len(update["context_ids"]) == 3 and set(update["new_ids"]) <= set(update["context_ids"])
    assert not set(update["new_ids"]) & {s["id"] for s in sources}
    assert [s["id"] for s in update["sources"]] == update["new_ids"]
    assert [s["cite"] for s in update["sources"]] == [
        f"doc-{4 + i:03d}" for i in range(len(update["new_ids"]))
    ]
    assert types.index("context_update") > types.index("source")
    assert done["waves"] and set(done["waves"]) <= {1, 2}
    assert done["metrics"]["last_wave_ms"] > done["metrics"]["ttfs_ms"] > 0
    answer_start = max((i for i, t in enumerate(types) if t == "revise"), default=0)
    assert done["metrics"]["token_count"] == len(tokens_of(events[answer_start:])) > 0


async def test_hybrid_wave_that_ranks_another_chunk_first_revises_the_real_answer(
    live_server, local_llm
):
    """The sample knowledge base's own case: BM25 finds the one chunk naming the callback."""
    question = {"question": "What does on_llm_new_token do?", "k": 3, "progressive": True}
    events = await read_events(live_server, json=question)
    types, done = assert_well_formed_answer(events)
    assert "langchain-lcel" not in {s["doc_id"] for s in of_type(events, "source")}
    (update,) = of_type(events, "context_update")
    (revise,) = of_type(events, "revise")
    assert types.index("context_update") < types.index("revise")
    assert "hybrid search ranks" in revise["reason"]
    assert update["context_ids"][0] in update["new_ids"]
    assert update["sources"][0]["doc_id"] == "langchain-lcel"
    assert "on_llm_new_token" in update["sources"][0]["content"]
    final = tokens_of(events[types.index("revise") :])
    assert final and done["metrics"]["token_count"] == len(final)
    assert done["waves"] == [1, 2]
    await assert_engine_goes_idle(local_llm.url, "the draft's model request is still running")


async def test_question_in_plain_words_keeps_the_vector_ranking_and_the_draft(live_server):
    """Fused with BM25, "tokens" would rank `backpressure` first; no exact term, no fusion."""
    question = {"question": "Why stream tokens?", "k": 3, "progressive": True}
    events = await read_events(live_server, json=question)
    types, done = assert_well_formed_answer(events)
    (update,) = of_type(events, "context_update")
    assert update["new_ids"] == [] and update["sources"] == []
    assert update["context_ids"] == [s["id"] for s in of_type(events, "source")]
    assert "revise" not in types
    assert done["waves"] == [1] and done["metrics"]["token_count"] == len(tokens_of(events)) > 0


async def test_progressive_through_remote_runnable_on_rag_events(live_server, remote_runnable):
    remote = remote_runnable(f"{live_server}/rag/events")
    events = [e async for e in remote.astream({**HYBRID_QUESTION, "progressive": True})]
    types = [e["type"] for e in events]
    assert types[0] == "status" and types[-1] == "done" and "error" not in types
    assert types.count("context_update") == 1 and types.count("source") == 3
    assert events[-1]["waves"] and events[-1]["metrics"]["token_count"] > 0


async def test_progressive_over_get_for_eventsource(live_server):
    events = await read_events(
        live_server,
        "GET",
        "/rag/sse",
        params={"q": HYBRID_QUESTION["question"], "k": 3, "progressive": "true"},
    )
    assert_well_formed_answer(events)
    assert len(of_type(events, "context_update")) == 1


async def test_progressive_setting_is_the_default_and_a_request_can_turn_it_off(
    serve, kb_settings, embeddings
):
    app = create_app(kb_settings.model_copy(update={"progressive": True}), embeddings=embeddings)
    with serve(app) as server:
        default = await read_events(server.url, json=HYBRID_QUESTION)
        off = await read_events(server.url, json={**HYBRID_QUESTION, "progressive": False})
    assert len(of_type(default, "context_update")) == 1 and of_type(default, "done")[0]["waves"]
    assert of_type(off, "context_update") == [] and of_type(off, "done")[0]["waves"] is None


# -- revise semantics: a wave forced slow, the answer from the scripted server ----------

ANSWER = [*(f" W{i}" + "." * (i % 5 == 4) for i in range(30)), " see", " [doc", "-004]", "."]
"""30 words in sentences of five, then a key only the enriched context holds (doc-004)."""


async def test_slow_wave_that_changes_the_best_source_revises_the_answer(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=ANSWER, rate=20)  # 1.7 s per answer
    app = forced_wave_app(kb_settings, embeddings, scripted_llm.base_url, order=(3, 0, 1))
    with serve(app) as server:
        events = await read_events(server.url, json={**HYBRID_QUESTION, "progressive": True})
    types, done = assert_well_formed_answer(events)
    at_revise = types.index("revise")
    draft, final = tokens_of(events[:at_revise]), tokens_of(events[at_revise:])
    assert 0 < len(draft) < len(ANSWER) and draft == ANSWER[: len(draft)]
    assert final == ANSWER and done["answer"] == "".join(ANSWER)
    assert types.index("context_update") < at_revise
    (update,) = of_type(events, "context_update")
    (revise,) = of_type(events, "revise")
    assert revise["wave"] == 2 and "forced" in revise["reason"] and "doc-004" in revise["reason"]
    assert update["context_ids"][0] == update["new_ids"][0] == update["sources"][0]["id"]
    citations = of_type(events[at_revise:], "citation")
    assert [(c["cite"], c["valid"], c["source_id"]) for c in citations] == [
        ("doc-004", True, update["new_ids"][0])
    ]
    assert done["cited"] == ["doc-004"] and done["waves"] == [1, 2]
    # The draft's sentence checks end with it: the final answer's six are checked afresh.
    checks = of_type(events[at_revise:], "grounding")
    assert [c["index"] for c in checks] == list(range(6))
    assert done["answer"][checks[-1]["start"] : checks[-1]["end"]].endswith("see [doc-004].")
    assert checks[-1]["cited"] == ["doc-004"] and done["grounding"]["sentences"] == 6
    assert done["metrics"]["wave1_ttft_ms"] == done["metrics"]["ttft_ms"]
    assert done["metrics"]["token_count"] == len(ANSWER)
    first, second = scripted_llm.calls
    assert first.client_disconnected and first.tokens_sent < len(ANSWER)
    assert not second.client_disconnected and second.tokens_sent == len(ANSWER)


async def test_revised_prompt_keeps_the_draft_prompt_as_its_prefix(
    serve, kb_settings, embeddings, scripted_llm
):
    """The engine's prompt cache reuses the draft's state only if the prefix is shared."""
    scripted_llm.script = Script(tokens=ANSWER, rate=20)
    app = forced_wave_app(kb_settings, embeddings, scripted_llm.base_url, order=(3, 0, 1))
    with serve(app) as server:
        await read_events(server.url, json={**HYBRID_QUESTION, "progressive": True})
    draft, revised = (call.body["messages"][0]["content"] for call in scripted_llm.calls)
    draft_sources = draft.removesuffix("\n</sources>")
    assert draft_sources != draft and "[doc-001]" in draft and "[doc-002]" not in draft
    assert revised.startswith(draft_sources + "\n\n[doc-002]")
    assert revised.index("[doc-002]") < revised.index("[doc-004]")


async def test_slow_wave_that_keeps_the_best_source_leaves_the_answer_untouched(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=ANSWER, rate=20)
    app = forced_wave_app(kb_settings, embeddings, scripted_llm.base_url, order=(0, 3, 1))
    with serve(app) as server:
        events = await read_events(server.url, json={**HYBRID_QUESTION, "progressive": True})
    types, done = assert_well_formed_answer(events)
    (update,) = of_type(events, "context_update")
    assert len(update["new_ids"]) == 1 and update["context_ids"][1] == update["new_ids"][0]
    assert "revise" not in types
    assert tokens_of(events) == ANSWER and done["answer"] == "".join(ANSWER)
    # The draft was written from doc-001 alone, so its doc-004 is not a retrieved key.
    assert done["invalid_citations"] == ["doc-004"] and done["waves"] == [1]
    (call,) = scripted_llm.calls
    assert not call.client_disconnected and call.tokens_sent == len(ANSWER)
    assert "[doc-002]" not in call.body["messages"][0]["content"]
    first_token = types.index("token")
    assert first_token < types.index("context_update") < len(types) - 1


async def test_progressive_disconnect_closes_the_model_request_and_stops_the_waves(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=400, rate=20)
    app = forced_wave_app(
        kb_settings, embeddings, scripted_llm.base_url, order=(3, 0), delay_s=2, resume_grace_s=0
    )
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            body = {**HYBRID_QUESTION, "progressive": True}
            async with client.stream("POST", "/rag/sse", json=body) as response:
                async for line in response.aiter_lines():
                    if line == "event: token":
                        break
        deadline = asyncio.get_running_loop().time() + 15  # only catches a hang
        while scripted_llm.calls[-1].ended is None:
            assert asyncio.get_running_loop().time() < deadline, "the model request ran on"
            await asyncio.sleep(0.02)
        await asyncio.sleep(2.5)  # past the forced wave: it must not have started a revise
    (call,) = scripted_llm.calls
    assert call.client_disconnected and call.tokens_sent < 400


# -- incremental search: widening, and no model call when nothing clears --------------


@pytest.mark.parametrize("progressive", [False, True])
async def test_nothing_in_the_knowledge_base_answers_so_without_a_model_request(
    live_server, local_llm, progressive
):
    before = await engine_decodes(local_llm.url)
    events = await read_events(live_server, json={**ABSENT_QUESTION, "progressive": progressive})
    after = await engine_decodes(local_llm.url)
    types = [t for _, t, _ in events]
    assert types == ["status", "status", "status", "status", "done"]
    steps = of_type(events, "status")
    assert [s["phase"] for s in steps] == ["retrieving", "widening", "widening", "widening"]
    assert "12 chunks" in steps[1]["message"] and "keyword" in steps[2]["message"]
    assert "nothing in the knowledge base" in steps[3]["message"]
    done = events[-1][2]
    assert done["answer"] == NOT_IN_KNOWLEDGE_BASE and done["metrics"]["token_count"] == 0
    assert done["metrics"]["ttft_ms"] is None and done["cited"] == done["uncited"] == []
    assert after == before, "the model server was asked anyway"
    await read_events(live_server, json={"question": "What is HNSW?", "k": 1})
    assert await engine_decodes(local_llm.url) > after, "the counter must see a real answer"


async def test_a_filter_that_hides_every_good_source_is_relaxed_before_answering(live_server):
    question = "What is an approximate nearest neighbour graph?"
    body = {"question": question, "k": 2, "filter": {"topic": "streaming"}}
    events = await read_events(live_server, json=body)
    types, done = assert_well_formed_answer(events)
    widening = [i for i, (_, t, p) in enumerate(events) if p.get("phase") == "widening"]
    assert [events[i][2]["message"] for i in widening][-1] == "searching with filter none"
    assert types.index("source") > widening[-1]
    sources = of_type(events, "source")
    assert sources[0]["doc_id"] == "hnsw" and sources[0]["metadata"]["topic"] != "streaming"
    assert done["metrics"]["token_count"] > 0
