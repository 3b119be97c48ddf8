import httpx
import pytest
from langchain_core.embeddings import Embeddings

from app.server import create_app

pytestmark = pytest.mark.anyio


class SwitchableEmbeddings(Embeddings):
    """The real model behind a switch that makes it fail, as a crashed model would."""

    def __init__(self, real: Embeddings) -> None:
        self.real = real
        self.broken = False

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.broken:
            raise RuntimeError("embedding model crashed")
        return self.real.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        if self.broken:
            raise RuntimeError("embedding model crashed")
        return self.real.embed_query(text)


async def get_health(app) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        return await c.get("/health")


async def test_health_counts_the_collection_and_reaches_the_llm(kb_app):
    response = await get_health(kb_app)
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["collection"]["count"] == 24
    assert body["llm"]["reachable"] is True
    assert body["embeddings"] == {"provider": "local", "loaded": True, "dims": 384}


async def test_health_is_503_degraded_when_the_embedding_model_fails(kb_settings, embeddings):
    switchable = SwitchableEmbeddings(embeddings)
    app = create_app(kb_settings, embeddings=switchable)
    assert (await get_health(app)).json()["embeddings"]["loaded"] is True
    switchable.broken = True
    response = await get_health(app)
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["embeddings"] == {"provider": "local", "loaded": False, "dims": None}


async def test_health_is_503_degraded_when_the_llm_is_unreachable(
    tmp_path, embeddings, settings_factory, unused_port
):
    settings = settings_factory(chroma_path=tmp_path / "chroma", local_llm_port=unused_port)
    app = create_app(settings, embeddings=embeddings)
    response = await get_health(app)
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["llm"]["reachable"] is False
