"""Resumable streams in one worker: cut an answer, reconnect with ``Last-Event-ID``."""

import asyncio
import json
import time

import httpx
import pytest
from httpx_sse import aconnect_sse
from sse_helpers import assert_well_formed_answer, read_events, scripted_app, tokens_of

from bench.scripted_llm import Script
from chains.errors import StoreUnavailableError

pytestmark = pytest.mark.anyio

QUESTION = {"question": "What is backpressure?", "k": 2}


async def read_until_tokens(url, count, method="POST"):
    """Open an answer, read until ``count`` tokens arrived, then drop the connection."""
    request = {"json": QUESTION} if method == "POST" else {"params": {"q": QUESTION["question"]}}
    events = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async with aconnect_sse(client, method, "/rag/sse", **request) as source:
            async for sse in source.aiter_sse():
                if sse.data:
                    events.append((sse.id, sse.event, json.loads(sse.data)))
                if len(tokens_of(events)) == count:
                    return events
    raise AssertionError("the answer ended before the cut")


def resume(url, last_event_id, **kwargs):
    return read_events(url, "GET", headers={"Last-Event-ID": last_event_id}, **kwargs)


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_answer_cut_mid_stream_resumes_with_last_event_id_nothing_lost_or_repeated(
    serve, kb_settings, embeddings, scripted_llm, method
):
    scripted_llm.script = Script(tokens=60, rate=60)
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, resume_grace_s=5)
    with serve(app) as server:
        whole = await read_events(server.url, json=QUESTION)
        before = await read_until_tokens(server.url, 10, method)
        after = await resume(server.url, before[-1][0])

    assert_well_formed_answer(whole)
    assert_well_formed_answer(before + after)  # ids continue from the cut, none twice
    assert len(tokens_of(before)) == 10 and tokens_of(after)
    assert tokens_of(before) + tokens_of(after) == tokens_of(whole)
    assert scripted_llm.calls[-1].tokens_sent == 60, "the model request was cut"


async def test_resume_from_an_earlier_event_sends_everything_after_it_again(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=30, rate=0)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        whole = await read_events(server.url, json=QUESTION)
        again = await resume(server.url, whole[2][0])  # the client lost all after the 3rd
    assert [e[0] for e in again] == [e[0] for e in whole[3:]]
    assert [e[2] for e in again] == [e[2] for e in whole[3:]]


async def test_disconnect_keeps_the_answer_running_for_the_grace_then_cancels_it(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=400, rate=40)  # 10 s if nobody stopped it
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, resume_grace_s=1.5)
    with serve(app) as server:
        before = await read_until_tokens(server.url, 1)
        cut = time.monotonic()
        await asyncio.sleep(0.75)
        call = scripted_llm.calls[-1]
        assert call.ended is None, "the answer stopped at the disconnect, inside the grace"
        deadline = cut + 8  # only catches a hang
        while call.ended is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stopped_after = call.ended - cut if call.ended else None
        late = await resume(server.url, before[-1][0])
        await asyncio.sleep(0.2)
        tasks = server.task_count()

    assert call.client_disconnected and call.tokens_sent < 400
    # The grace runs from the last mark before the cut, checked every third of it.
    assert stopped_after is not None and stopped_after > 1.0
    assert late[-1][1] == "error" and late[-1][2]["code"] == "abandoned"
    assert tokens_of(late), "the tokens made during the grace were kept for a resume"
    assert tasks <= 3, "a pump or watchdog outlived its stream"


async def test_resume_of_an_unknown_or_malformed_stream_id_is_404(live_server):
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as client:
        for value in ("0123456789abcdef-3", "no-number-x", "7"):
            response = await client.get("/rag/sse", headers={"Last-Event-ID": value})
            assert response.status_code == 404, value
            assert "Ask again" in response.json()["detail"]


async def test_without_grace_streams_are_not_resumable_and_ids_are_plain_numbers(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=5)
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, resume_grace_s=0)
    with serve(app) as server:
        events = await read_events(server.url, json=QUESTION)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            response = await client.get("/rag/sse", headers={"Last-Event-ID": events[1][0]})
    assert [e[0] for e in events] == [str(n) for n in range(1, len(events) + 1)]
    assert response.status_code == 404
    assert "RAG_RESUME_GRACE_S is 0" in response.json()["detail"]


def test_a_redis_url_nobody_answers_stops_the_start_with_what_to_do(
    kb_settings, embeddings, scripted_llm, unused_port
):
    redis_url = f"redis://127.0.0.1:{unused_port}/0"
    with pytest.raises(StoreUnavailableError, match="RAG_REDIS_URL") as refused:
        scripted_app(kb_settings, embeddings, scripted_llm.base_url, redis_url=redis_url)
    assert "make redis" in str(refused.value)
