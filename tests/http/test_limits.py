"""Limits and auth over HTTP: the read key, CORS, the body limit (413), the rate limit (429)."""

import asyncio
import json

import httpx
import pytest
from pydantic import SecretStr

from app.server import create_app

pytestmark = pytest.mark.anyio

QUESTION = {"question": "What is backpressure?", "k": 1}


def client_for(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t", timeout=60)


async def test_protect_reads_puts_the_key_on_every_question_route(kb_settings, embeddings):
    settings = kb_settings.model_copy(
        update={"api_key": SecretStr("s3cret"), "protect_reads": True}
    )
    app = create_app(settings, embeddings=embeddings)
    key = {"Authorization": "Bearer s3cret"}
    async with client_for(app) as c:
        refused = [
            await c.post("/rag/sse", json=QUESTION),
            await c.get("/rag/sse", params={"q": "hi"}),
            await c.post("/rag/invoke", json={"input": QUESTION}),
            await c.post("/rag/events/stream", json={"input": QUESTION}),
            await c.post("/summarize/sse", json={"content": "text"}),
            await c.post("/rag/sse", json=QUESTION, headers={"Authorization": "Bearer nope"}),
        ]
        assert [r.status_code for r in refused] == [401] * len(refused)
        assert all(r.headers["www-authenticate"] == "Bearer" for r in refused)
        ok = await c.post("/rag/invoke", json={"input": QUESTION}, headers=key)
        open_routes = [await c.get(path) for path in ("/health/live", "/metrics", "/")]
    assert ok.status_code == 200 and ok.json()["output"]["sources"]
    assert [r.status_code for r in open_routes] == [200, 200, 200]


async def test_reads_stay_open_by_default_and_writes_keep_their_key(kb_settings, embeddings):
    app = create_app(
        kb_settings.model_copy(update={"api_key": SecretStr("s3cret")}), embeddings=embeddings
    )
    async with client_for(app) as c:
        read = await c.post("/rag/invoke", json={"input": QUESTION})
        write = await c.post("/index", json={"documents": [{"content": "x"}]})
    assert read.status_code == 200 and write.status_code == 401


async def test_cors_allows_only_the_listed_origins(kb_settings, embeddings):
    settings = kb_settings.model_copy(update={"cors_origins": ["https://app.example"]})
    app = create_app(settings, embeddings=embeddings)
    preflight = {"Access-Control-Request-Method": "POST"}
    async with client_for(app) as c:
        allowed = await c.options(
            "/rag/sse", headers={"Origin": "https://app.example", **preflight}
        )
        denied = await c.options(
            "/rag/sse", headers={"Origin": "https://evil.example", **preflight}
        )
        simple = await c.get("/health/live", headers={"Origin": "https://app.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert denied.status_code == 400 and "access-control-allow-origin" not in denied.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "X-Request-ID" in simple.headers["access-control-expose-headers"]


@pytest.mark.parametrize("path", ["/index", "/rag/sse", "/rag/invoke", "/index/files/sse"])
async def test_a_body_over_the_limit_is_413_before_it_is_read(settings, embeddings, path):
    app = create_app(settings.model_copy(update={"max_body_bytes": 4096}), embeddings=embeddings)
    services = app.state.services
    size_before = services.store._collection.count()
    if path == "/index/files/sse":
        upload = httpx.Request("POST", "http://t", files={"files": ("a.txt", b"x" * 10_000)})
        body, content_type = upload.read(), upload.headers["Content-Type"]
    else:
        body = json.dumps({"documents": [{"content": "x" * 10_000}]}).encode()
        content_type = "application/json"
    async with client_for(app) as c:
        declared = await c.post(path, content=body, headers={"Content-Type": content_type})

        async def chunks():  # no Content-Length: counted as it arrives
            for start in range(0, len(body), 1000):
                yield body[start : start + 1000]

        streamed = await c.post(path, content=chunks(), headers={"Content-Type": content_type})
        small = await c.post("/index", json={"documents": [{"content": "small"}]})
    for response in (declared, streamed):
        assert response.status_code == 413
        assert "larger than the limit of 4096 bytes" in response.json()["detail"]
    assert small.status_code == 200
    assert services.store._collection.count() == size_before + 1, "the big body indexed nothing"


async def test_rate_limit_answers_429_with_retry_after_and_spares_other_routes(
    kb_settings, embeddings
):
    settings = kb_settings.model_copy(update={"rate_limit": "3/minute"})
    app = create_app(settings, embeddings=embeddings)
    body = {"input": {"question": "What is HNSW?", "k": 1}}
    async with client_for(app) as c:
        answers = await asyncio.gather(*(c.post("/rag/invoke", json=body) for _ in range(3)))
        over = await c.post("/rag/invoke", json=body)
        over_sse = await c.get("/rag/sse", params={"q": "hi"})
        writes = await c.post("/index", json={"documents": [{"content": "never indexed"}]})
        health = [await c.get("/health/live") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    for response in (over, over_sse, writes):
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= 60
        assert "rate limit of 3 per 1 minute exceeded" in response.json()["detail"]
    assert [h.status_code for h in health] == [200] * 5


def test_a_rate_limit_that_does_not_parse_is_refused_at_startup(settings_factory):
    with pytest.raises(ValueError, match="is not a rate like 30/minute"):
        settings_factory(rate_limit="many per hour")
