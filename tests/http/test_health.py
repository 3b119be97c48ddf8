import httpx
import pytest

from app.server import create_app

pytestmark = pytest.mark.anyio


async def test_health_counts_the_collection_and_reaches_the_llm(kb_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(kb_app), base_url="http://t") as c:
        response = await c.get("/health")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["collection"]["count"] == 24
    assert body["llm"]["reachable"] is True
    assert body["embeddings"] == {"provider": "local", "loaded": True, "dims": 384}


async def test_health_is_503_degraded_when_the_llm_is_unreachable(
    tmp_path, embeddings, settings_factory, unused_port
):
    settings = settings_factory(chroma_path=tmp_path / "chroma", local_llm_port=unused_port)
    app = create_app(settings, embeddings=embeddings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        response = await c.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["llm"]["reachable"] is False
