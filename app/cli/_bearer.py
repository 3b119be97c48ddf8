"""The bearer key the ``--url`` commands send: ``RAG_API_KEY``, set to the caller's key."""

from __future__ import annotations

from app.settings import Settings


def bearer_headers(settings: Settings) -> dict[str, str]:
    """``Authorization: Bearer <RAG_API_KEY>`` when it is set, else nothing."""
    key = settings.api_key
    return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
