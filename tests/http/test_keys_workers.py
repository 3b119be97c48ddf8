"""A key made or revoked through one worker is honoured or refused by the other at once.

Two real ``streaming-rag serve`` processes on one ``chroma run`` server and one Redis
(the key store every worker reads with ``RAG_REDIS_URL``), reads protected. Each check
on the second worker is the request straight after the first worker answered.
"""

import httpx
import pytest
from server_mode import serve_workers, server_mode

pytestmark = pytest.mark.anyio

ADMIN = {"Authorization": "Bearer workers-admin"}


@pytest.fixture(scope="module")
def keyed_workers(tmp_path_factory, chroma_server, redis_url, pacer):
    env = {
        **server_mode(chroma_server, "keyed"),
        "redis_url": redis_url,
        "llm_base_url": pacer.base_url,
        "llm_model": "scripted",
        "api_key": "workers-admin",
        "protect_reads": "true",
        "index_sample_docs": "false",
    }
    with serve_workers(tmp_path_factory, "keyed", **env) as urls:
        yield urls


async def test_a_key_made_and_revoked_on_one_worker_is_honoured_then_refused_by_the_other(
    keyed_workers,
):
    first, second = keyed_workers
    async with httpx.AsyncClient(timeout=60) as client:
        assert (
            await client.post(f"{first}/kbs", json={"name": "team-a"}, headers=ADMIN)
        ).is_success
        made = await client.post(
            f"{first}/keys", json={"name": "team-a", "read": ["team-a"]}, headers=ADMIN
        )
        assert made.status_code == 201, made.text
        team = {"Authorization": f"Bearer {made.json()['key']}"}
        honoured = await client.get(f"{second}/kbs", headers=team)
        revoked = await client.delete(f"{first}/keys/{made.json()['id']}", headers=ADMIN)
        refused = await client.get(f"{second}/kbs", headers=team)
        refused_docs = await client.get(
            f"{second}/documents", params={"kb": "team-a"}, headers=team
        )
        listed = await client.get(f"{second}/keys", headers=ADMIN)
    assert honoured.status_code == 200
    assert [kb["name"] for kb in honoured.json()["kbs"]] == ["team-a"]
    assert revoked.status_code == 204
    assert refused.status_code == refused_docs.status_code == 401
    assert made.json()["id"] not in listed.text
