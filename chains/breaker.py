"""The circuit breaker in front of the language model (purgatory's, in memory).

After ``threshold`` consecutive upstream failures (the model server unreachable, timing
out, or answering 5xx), the breaker opens: for ``reset_s`` seconds every answer fails at
once with ``llm_unavailable`` (retryable) instead of waiting on a dead server, and the
sources found before it stay valid. Then one request is let through (half open): its
success closes the breaker, its failure opens it again. A client that goes away, or a
request the model refused (4xx), is not a failure of the model server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import httpx
import openai
from purgatory import AsyncCircuitBreakerFactory

BreakerState = Literal["closed", "opened", "half-opened"]

_CIRCUIT = "llm"


def is_upstream_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the model server is failing (and not the client or the request)."""
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return False
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError | httpx.TransportError)


class LlmBreaker:
    """One circuit for the model server.

    Example:
        >>> breaker = LlmBreaker(threshold=5, reset_s=15)
        >>> async with breaker.guard():  # raises purgatory's OpenedState while open
        ...     ...

    """

    def __init__(self, *, threshold: int, reset_s: float) -> None:
        if threshold < 1 or reset_s <= 0:
            raise ValueError(f"bad breaker settings: threshold={threshold}, reset_s={reset_s}")
        self.reset_s = reset_s
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=threshold,
            default_ttl=reset_s,
            exclude=[(BaseException, lambda exc: not is_upstream_failure(exc))],
        )

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run one model request through the circuit."""
        async with await self._factory.get_breaker(_CIRCUIT):
            yield

    async def state(self) -> BreakerState:
        """``closed`` (normal), ``opened`` (failing fast) or ``half-opened`` (on trial)."""
        breaker = await self._factory.get_breaker(_CIRCUIT)
        state: BreakerState = breaker.context.state
        return state
