"""Observability over HTTP: /metrics, request ids, the access log line, health probes."""

import logging
import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sse_helpers import of_type, read_events

from app.server import create_app

pytestmark = pytest.mark.anyio


def samples(text):
    """Every sample of a /metrics page as {(name, frozenset(labels)): value}."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def app(settings, embeddings):
    return create_app(settings, embeddings=embeddings)


async def test_metrics_count_answers_ingestion_and_requests_in_prometheus_format(
    serve, app, index_all
):
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            docs = {"documents": [{"id": "a", "content": "Herons nest in alder trees."}, {}]}
            assert (await c.post("/index", json=docs)).status_code == 200
            before = samples((await c.get("/metrics")).text)
        events = await read_events(server.url, json={"question": "Where do herons nest?", "k": 1})
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            page = await c.get("/metrics")
    assert page.headers["content-type"].startswith("text/plain; version=")
    after = samples(page.text)
    (done,) = of_type(events, "done")
    tokens = len(of_type(events, "token"))
    assert tokens > 0
    assert after[("rag_tokens_streamed_total", frozenset())] == tokens
    for name in ("first_source", "first_token"):
        key = (f"rag_time_to_{name}_seconds_count", frozenset())
        assert before[key] == 0 and after[key] == 1
    total_sum = after[("rag_answer_duration_seconds_sum", frozenset())]
    assert total_sum == pytest.approx(done["metrics"]["total_ms"] / 1000, rel=1e-6)
    assert after[("rag_active_streams", frozenset())] == 0
    assert after[("rag_ingest_documents_total", frozenset({("outcome", "ready")}))] == 1
    assert after[("rag_ingest_documents_total", frozenset({("outcome", "failed")}))] == 1
    assert after[("rag_ingest_chunks_total", frozenset())] == 1
    sse_ok = frozenset({("route", "/rag/sse"), ("method", "POST"), ("status", "200")})
    assert after[("rag_http_requests_total", sse_ok)] == 1
    closed = frozenset({("rag_llm_breaker_state", "closed")})
    assert after[("rag_llm_breaker_state", closed)] == 1


async def test_request_id_is_made_or_kept_and_reaches_header_done_and_log(kb_app, caplog):
    caplog.set_level(logging.INFO, logger="streaming_rag.access")
    question = {"question": "What is HNSW?", "k": 1}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(kb_app), base_url="http://t") as c:
        made = await c.post("/rag/sse", json=question)
        kept = await c.post("/rag/sse", json=question, headers={"X-Request-ID": "proxy-42"})
        refused = await c.post("/rag/sse", json={"question": ""})
    made_id = made.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made_id)
    assert kept.headers["x-request-id"] == "proxy-42"
    assert f'"request_id":"{made_id}"' in made.text.replace(" ", "")
    assert '"request_id":"proxy-42"' in kept.text.replace(" ", "")
    assert refused.status_code == 422 and refused.headers["x-request-id"]

    lines = [r for r in caplog.records if r.name == "streaming_rag.access"]
    by_id = {r.request_id: r for r in lines}
    line = by_id["proxy-42"]
    assert (line.method, line.path, line.route, line.status) == (
        "POST",
        "/rag/sse",
        "/rag/sse",
        200,
    )
    assert line.outcome == "done" and line.ttft_ms > 0 and line.duration_ms >= line.total_ms
    assert by_id[refused.headers["x-request-id"]].status == 422


async def test_error_event_carries_the_request_id(kb_settings, embeddings, unused_port):
    update = {"llm_base_url": f"http://127.0.0.1:{unused_port}/v1", "llm_max_retries": 0}
    app = create_app(kb_settings.model_copy(update=update), embeddings=embeddings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        response = await c.post("/rag/sse", json={"question": "What is HNSW?"})
        page = (await c.get("/metrics")).text
    assert '"type":"error"' in response.text.replace(" ", "")
    assert f'"request_id":"{response.headers["x-request-id"]}"' in response.text.replace(" ", "")
    unavailable = frozenset({("code", "llm_unavailable")})
    assert samples(page)[("rag_llm_errors_total", unavailable)] == 1


async def test_health_probes_report_each_dependency(app, kb_settings, embeddings, unused_port):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        live = await c.get("/health/live")
        ready = await c.get("/health/ready")
    assert live.status_code == 200 and live.json() == {"status": "alive"}
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["store"] == {"ok": True, "count": 0, "server": False}
    assert checks["embeddings"] == {"ok": True, "dims": 384}
    assert checks["resume_buffer"] == {"ok": True, "redis": False}
    assert checks["llm"]["ok"] and checks["breaker"] == {"ok": True, "state": "closed"}

    down = create_app(
        kb_settings.model_copy(update={"llm_base_url": f"http://127.0.0.1:{unused_port}/v1"}),
        embeddings=embeddings,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(down), base_url="http://t") as c:
        not_ready = await c.get("/health/ready")
        still_live = await c.get("/health/live")
    assert not_ready.status_code == 503 and not_ready.json()["status"] == "not_ready"
    assert not_ready.json()["checks"]["llm"]["ok"] is False
    assert still_live.status_code == 200
