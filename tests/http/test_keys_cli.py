"""``streaming-rag keys`` as an admin runs it, against the app a team then calls.

In process the command writes the key file a running app reads on its next request;
with ``--url`` it goes through the server's admin-only ``/keys`` routes. Real processes,
real uvicorn.
"""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest
from pydantic import SecretStr
from sse_helpers import CLI

from app.server import create_app

ADMIN = "cli-admin-key"


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **{f"RAG_{k.upper()}": v for k, v in env.items()}}
    return subprocess.run(
        [str(CLI), *args], env=environ, capture_output=True, text=True, timeout=120
    )


def keys(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("keys", *args, **env)


def ask(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("ask", *args, **env)


@pytest.fixture
def keyed_app(tmp_path, settings, embeddings):
    """Reads protected, no key yet: nothing is open until the first key exists."""
    keyed = settings.model_copy(update={"keys_path": tmp_path / "keys.json", "protect_reads": True})
    return create_app(keyed, embeddings=embeddings)


def test_keys_made_revoked_in_process_are_honoured_by_the_running_app_at_once(
    tmp_path, keyed_app, serve
):
    env = {"keys_path": str(tmp_path / "keys.json"), "chroma_path": str(tmp_path / "chroma")}
    with serve(keyed_app) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/kbs").status_code == 401  # protected, and no key made yet
        made = keys("create", "--name", "team-a", "--read", "*", **env)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        assert token.startswith("srk_") and "shown this once" in made.stderr
        key_id = token.split("_")[1]
        team = {"Authorization": f"Bearer {token}"}
        listed = client.get("/kbs", headers=team)
        assert listed.status_code == 200 and listed.json()["kbs"][0]["access"] == ["read"]
        written = client.post("/index", json={"documents": [{"content": "x"}]}, headers=team)
        assert written.status_code == 403  # read everywhere, write nowhere
        listing = keys("list", **env)
        assert (
            key_id in listing.stderr and "team-a" in listing.stderr and "read *" in listing.stderr
        )
        assert token.rpartition("_")[2] not in listing.stdout + listing.stderr
        asked = ask("What is in here?", "--url", server.url, api_key=token)
        assert asked.returncode == 0, asked.stderr  # ask --url sends RAG_API_KEY as its key
        keyless = ask("What is in here?", "--url", server.url)
        assert keyless.returncode != 0 and "HTTP 401" in keyless.stderr
        revoked = keys("revoke", key_id, **env)
        assert revoked.returncode == 0, revoked.stderr
        refused = client.get("/kbs", headers=team)
        assert refused.status_code == 401 and "unknown or revoked" in refused.json()["detail"]
        again = keys("revoke", key_id, **env)
        assert again.returncode == 1 and "no key has the id" in again.stderr


def test_keys_through_a_running_servers_admin_routes(tmp_path, settings, embeddings, serve):
    keyed = settings.model_copy(
        update={"keys_path": tmp_path / "keys.json", "api_key": SecretStr(ADMIN)}
    )
    with serve(create_app(keyed, embeddings=embeddings)) as server:
        made = keys(
            "create", "--name", "writer", "--write", "handbook", "--url", server.url, api_key=ADMIN
        )
        assert made.returncode == 0, made.stderr
        key_id = made.stdout.strip().split("_")[1]
        assert key_id in keys("list", "--url", server.url, api_key=ADMIN).stderr
        not_admin = keys("list", "--url", server.url, api_key=made.stdout.strip())
        assert not_admin.returncode != 0 and "403" in not_admin.stderr
        assert keys("revoke", key_id, "--url", server.url, api_key=ADMIN).returncode == 0
        assert key_id not in keys("list", "--url", server.url, api_key=ADMIN).stderr


def test_keys_create_with_grants_that_name_nothing_exits_2_saying_why(tmp_path):
    env = {"keys_path": str(tmp_path / "keys.json")}
    nothing = keys("create", "--name", "idle", **env)
    assert nothing.returncode == 2 and "must grant something" in nothing.stderr
    bad = keys("create", "--name", "x", "--read", "../etc", **env)
    assert bad.returncode == 2 and "collection name" in bad.stderr
    assert not (tmp_path / "keys.json").exists()
