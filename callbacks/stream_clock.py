"""The timings of one answer stream, for ``done.metrics``.

Kept apart from :mod:`callbacks.event_stream` so the consumer loop reads as the protocol
order it keeps, and the arithmetic of the figures sits in one place.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chains.events import Metrics


class StreamClock:
    """Monotonic timings of one stream, in milliseconds since the request arrived.

    In progressive mode a ``revise`` may restart the answer: ``ttft_ms`` stays the first
    token the client saw, ``wave1_ttft_ms`` is that token only if a draft written from
    wave 1's sources produced it (not a revised answer, nor a follow-up's answer written
    from its standalone wave), and tokens/s is measured on the final answer.
    """

    def __init__(self, started: float) -> None:
        self.started = started
        self.ttfs_ms: float | None = None
        self.ttft_ms: float | None = None
        self.wave1_ttft_ms: float | None = None
        self.last_wave_ms: float | None = None
        self.revised = False
        """The answer is no longer wave 1's: revised, or drafted from a later wave."""
        self.answer_started: float | None = None
        self.last_token: float | None = None

    def now_ms(self) -> float:
        """Milliseconds since the request arrived."""
        return (time.perf_counter() - self.started) * 1000

    def first_token(self) -> float | None:
        """The first token of an answer (a draft or a revised one); the TTFT if the stream's."""
        self.answer_started = time.perf_counter()
        if self.ttft_ms is not None:
            return None
        self.ttft_ms = self.now_ms()
        if not self.revised:
            self.wave1_ttft_ms = self.ttft_ms
        return self.ttft_ms

    def summary(
        self,
        retrieval_ms: float | None,
        token_count: int,
        rewrite_ms: float | None = None,
        usage: Mapping[str, Any] | None = None,
    ) -> Metrics:
        """Totals for ``done``; tokens/s is measured from the first to the last token.

        ``usage`` is the engine's count for the answer's call (``input_tokens``,
        ``output_tokens``), when it sent one.
        """
        rate = None
        if self.answer_started is not None and self.last_token is not None and token_count > 1:
            window = self.last_token - self.answer_started
            rate = round((token_count - 1) / window, 1) if window > 0 else None
        return Metrics(
            retrieval_ms=_ms(retrieval_ms),
            ttfs_ms=_ms(self.ttfs_ms),
            ttft_ms=_ms(self.ttft_ms),
            total_ms=round(self.now_ms(), 2),
            token_count=token_count,
            tokens_per_sec=rate,
            wave1_ttft_ms=_ms(self.wave1_ttft_ms),
            last_wave_ms=_ms(self.last_wave_ms),
            rewrite_ms=_ms(rewrite_ms),
            prompt_tokens=usage.get("input_tokens") if usage else None,
            completion_tokens=usage.get("output_tokens") if usage else None,
        )


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
