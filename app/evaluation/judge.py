"""An optional model judge: each answer sentence and its sources, asked "supported?".

Advisory only. A judge model's verdicts swing between runs and models, so they are
reported beside the deterministic measures and can never be a gate. A reply that is
neither yes nor no is counted as unparsed, never scored (no NaN).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from app.evaluation.metrics import is_decline
from chains.events import Source
from chains.sentences import SentenceSplitter

ADVISORY = "judge_supported"
"""The measure the judge adds: the share of sentences it called supported."""

SYSTEM = (
    "You check whether a sentence is supported by the sources. "
    "Reply with one word: yes if the sources state it, no otherwise."
)


class Judge:
    """Asks an OpenAI-compatible ``/chat/completions`` about each sentence, one at a time."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120)
        self.model = model
        self.unparsed = 0
        """Replies that were neither yes nor no."""
        self.failed = 0
        """Answers the judge could not be asked about (its server failed)."""

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    async def supported_share(self, answer: str, sources: Sequence[Source]) -> float | None:
        """The share of the answer's sentences the judge calls supported; None without any.

        A decline (:func:`~app.evaluation.metrics.is_decline`) is not judged.
        """
        if not sources or is_decline(answer):
            return None
        splitter = SentenceSplitter()
        sentences = [s.text for s in [*splitter.feed(answer), *splitter.flush()] if not s.code]
        context = "\n\n".join(f"[{s.cite}] {s.content}" for s in sources)
        asked = [await self._verdict(context, sentence) for sentence in sentences]
        verdicts = [v for v in asked if v is not None]
        return sum(verdicts) / len(verdicts) if verdicts else None

    async def _verdict(self, context: str, sentence: str) -> bool | None:
        body = {
            "model": self.model,
            "temperature": 0,
            "max_tokens": 3,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Sources:\n{context}\n\nSentence: {sentence}"},
            ],
        }
        response = await self.client.post("/chat/completions", json=body)
        response.raise_for_status()
        reply = response.json()["choices"][0]["message"]["content"].strip().lower()
        if reply.startswith("yes"):
            return True
        if reply.startswith("no"):
            return False
        self.unparsed += 1
        return None
