"""A keyed service for the access tests: two teams' knowledge bases, their keys, a canary.

``alpha`` holds a document whose text and title carry :data:`CANARY`; ``beta`` holds
another team's. Keys: the admin key (``RAG_API_KEY``), a-reader (reads alpha), a-writer
(writes alpha), b-reader (reads beta), a revoked key, a wrong key and none; reads are
protected. Real uvicorn, real Chroma, the real engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from app.server import create_app
from app.settings import Settings

ADMIN_KEY = "matrix-admin-key"
CANARY = "CANARY-5d1e-okapi"
QUESTION = "When does the zebra migration reach the Mara river?"
ZEBRA = (
    "The zebra migration reaches the Mara river in July, when the herds cross from the "
    f"Serengeti. Guides log each crossing with the code {CANARY}."
)
OTTERS = "Sea otters hold hands while they sleep so that the current does not part them."


@dataclass
class World:
    """The client, each principal's token, and what tests made along the way."""

    client: httpx.Client
    tokens: dict[str, str | None]
    scratch: dict[str, Any] = field(default_factory=dict)

    def as_(self, principal: str) -> dict[str, str]:
        token = self.tokens[principal]
        return {"Authorization": f"Bearer {token}"} if token else {}

    def admin(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, url, headers=self.as_("admin"), **kwargs)
        assert response.status_code < 300, response.text
        return response


@contextlib.contextmanager
def keyed_world(
    home: Path, llm_port: int, embeddings: Any, serve: Any
) -> Iterator[tuple[FastAPI, World]]:
    """Serve the keyed app; yield it and a :class:`World` of its principals."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        chroma_path=home / "chroma",
        keys_path=home / "keys.json",
        local_llm_port=llm_port,
        llm_max_tokens=24,
        api_key=ADMIN_KEY,
        protect_reads=True,
        resume_grace_s=5,
    )
    app = create_app(settings, embeddings=embeddings)
    with serve(app) as server:
        with httpx.Client(base_url=server.url, timeout=180) as client:
            world = World(client, {"admin": ADMIN_KEY, "none": None, "wrong": "srk_0000_nope"})
            for kb, doc_id, text, title in (
                ("alpha", "zebra", ZEBRA, f"Crossings {CANARY}"),
                ("beta", "otters", OTTERS, "Otters"),
            ):
                world.admin("POST", "/kbs", json={"name": kb})
                document = {"id": doc_id, "content": text, "metadata": {"title": title}}
                world.admin("POST", "/index", json={"kb": kb, "documents": [document]})
            grants = {
                "a_reader": {"name": "a-reader", "read": ["alpha"]},
                "a_writer": {"name": "a-writer", "write": ["alpha"]},
                "b_reader": {"name": "b-reader", "read": ["beta"]},
                "revoked": {"name": "revoked", "read": ["alpha"], "write": ["alpha"]},
            }
            for principal, body in grants.items():
                made = world.admin("POST", "/keys", json=body).json()
                world.tokens[principal] = made["key"]
                world.scratch[f"{principal}_id"] = made["id"]
            world.admin("DELETE", f"/keys/{world.scratch['revoked_id']}")
            yield app, world
