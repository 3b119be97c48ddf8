"""Keys at the edges: reads protected before any key exists, rate limits counted per key,
writes logged with the key that made them, and open reads that ignore a wrong key."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from app.server import create_app

pytestmark = pytest.mark.anyio

ADMIN = {"Authorization": "Bearer edge-admin"}


def client_for(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t", timeout=60)


def keyed(settings, tmp_path, **update):
    return settings.model_copy(
        update={"keys_path": tmp_path / "keys.json", "api_key": SecretStr("edge-admin"), **update}
    )


async def make_key(client, **grants) -> dict[str, str]:
    made = await client.post("/keys", json={"name": "k", **grants}, headers=ADMIN)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}


async def test_protected_reads_without_any_key_refuse_everyone_until_one_is_made(
    settings, embeddings, tmp_path
):
    """Regression: ``RAG_PROTECT_READS`` needed ``RAG_API_KEY`` at startup; keys can now
    come from the store, so it starts locked instead of open."""
    locked = settings.model_copy(update={"keys_path": tmp_path / "k.json", "protect_reads": True})
    app = create_app(locked, embeddings=embeddings)
    async with client_for(app) as c:
        refused = [
            await c.get("/kbs"),
            await c.post("/rag/sse", json={"question": "q"}),
            await c.post("/index", json={"documents": [{"content": "x"}]}),
            await c.post("/keys", json={"name": "me", "admin": True}),
        ]
    assert [r.status_code for r in refused] == [401] * 4


async def test_rate_limit_counts_each_key_apart_and_keyless_callers_by_address(
    settings, embeddings, tmp_path
):
    app = create_app(keyed(settings, tmp_path, rate_limit="2/minute"), embeddings=embeddings)
    bad = {"name": "x"}  # a 422 after the limiter counted it: no index is written
    async with client_for(app) as c:
        team_a = await make_key(c, read=["*"], write=["*"])
        team_b = await make_key(c, read=["*"], write=["*"])
        a = [(await c.post("/kbs", json=bad, headers=team_a)).status_code for _ in range(3)]
        b = [(await c.post("/kbs", json=bad, headers=team_b)).status_code for _ in range(2)]
        anonymous = [(await c.post("/kbs", json=bad)).status_code for _ in range(3)]
        forged = await c.post("/kbs", json=bad, headers={"Authorization": "Bearer srk_x_y"})
    assert a == [403, 403, 429]  # counted per key: a's third is over
    assert b == [403, 403]  # b's own budget, from the same address
    assert anonymous == [401, 401, 429]  # no key: the address, whose budget ...
    assert forged.status_code == 429  # ... an unknown key cannot escape


async def test_every_write_is_logged_with_the_key_id_that_made_it(
    settings, embeddings, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="streaming_rag.access")
    app = create_app(keyed(settings, tmp_path), embeddings=embeddings)
    async with client_for(app) as c:
        writer = await make_key(c, write=["*"])
        key_id = writer["Authorization"].split("_")[1]
        written = await c.post(
            "/index", json={"documents": [{"id": "w", "content": "x"}]}, headers=writer
        )
        deleted = await c.delete("/documents/w", headers=writer)
    assert written.status_code == 200 and deleted.status_code == 200
    lines = {(r.method, r.path): r for r in caplog.records if r.name == "streaming_rag.access"}
    assert lines["POST", "/index"].key_id == key_id
    assert lines["DELETE", "/documents/w"].key_id == key_id
    assert lines["POST", "/keys"].key_id == "admin"


async def test_open_reads_ignore_a_wrong_key_and_writes_refuse_it(settings, embeddings, tmp_path):
    app = create_app(keyed(settings, tmp_path), embeddings=embeddings)
    wrong = {"Authorization": "Bearer sk-not-ours"}  # what an OpenAI client sends by default
    async with client_for(app) as c:
        read = await c.get("/kbs", headers=wrong)
        models = await c.get("/v1/models", headers=wrong)
        write = await c.post("/index", json={"documents": [{"content": "x"}]}, headers=wrong)
    assert read.status_code == 200 and models.status_code == 200
    assert (
        write.status_code == 401 and write.json()["detail"] == "the API key is unknown or revoked"
    )


async def test_an_open_service_stays_open_but_its_keys_need_an_admin_key(
    settings, embeddings, tmp_path
):
    """Without any key the service is open as before keys; nobody can lock it by
    making the first key over HTTP (that takes the CLI or ``RAG_API_KEY``)."""
    app = create_app(
        settings.model_copy(update={"keys_path": tmp_path / "k.json"}), embeddings=embeddings
    )
    async with client_for(app) as c:
        made_kb = await c.post("/kbs", json={"name": "open-kb"})
        wrote = await c.post("/index", json={"kb": "open-kb", "documents": [{"content": "x"}]})
        listed = await c.get("/kbs")
        first_key = await c.post("/keys", json={"name": "mine", "admin": True})
        keys = await c.get("/keys")
    assert made_kb.status_code == 201 and wrote.status_code == 200
    assert {kb["name"]: kb["access"] for kb in listed.json()["kbs"]}["open-kb"] == ["read", "write"]
    assert first_key.status_code == keys.status_code == 401
    assert not (tmp_path / "k.json").exists()
