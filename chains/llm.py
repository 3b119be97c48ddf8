"""The chat model: always ``ChatOpenAI(streaming=True)``, whatever serves it.

The local llama.cpp server, OpenAI, vLLM and Ollama all speak the same protocol, so
only the base URL, key and model name change between deployments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from langchain_core.outputs import ChatGenerationChunk
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from chains.breaker import LlmBreaker

_NO_KEY = "not-needed"
"""Local OpenAI-compatible servers ignore the key, but the client insists on one."""


class GuardedChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` whose every request goes through a :class:`~chains.breaker.LlmBreaker`.

    Its one override wraps the stream that both ``astream`` and ``ainvoke`` (with
    ``streaming=True``) read, so a failure mid-answer counts as well as a refused
    connection.
    """

    breaker: Any = None

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        if self.breaker is None:
            async for chunk in super()._astream(*args, **kwargs):
                yield chunk
            return
        async with self.breaker.guard():
            async for chunk in super()._astream(*args, **kwargs):
                yield chunk


def build_chat_model(
    *,
    model: str,
    base_url: str | None = None,
    api_key: str | None = None,
    temperature: float = 0.1,
    max_tokens: int = 256,
    timeout_s: float = 60.0,
    max_retries: int = 0,
    breaker: LlmBreaker | None = None,
) -> ChatOpenAI:
    """Build the streaming chat model.

    ``timeout_s`` bounds the connection and every read, so a server that hangs mid-answer
    ends the stream with ``llm_timeout``. ``max_retries`` are the OpenAI client's own
    retries with exponential backoff; they happen only before the response starts (a
    refused connection, a timeout waiting for it, 429 or 5xx), never once text has
    streamed, so no text is ever sent twice. ``breaker`` fails requests fast while the
    model server is down (:mod:`chains.breaker`).

    Each model gets its own ``httpx.AsyncClient``: langchain-openai otherwise shares one
    cached client per base URL across the process, which breaks when two event loops
    (two apps, or a test and a server thread) talk to the same server. Close it with
    ``await llm.http_async_client.aclose()`` when done.

    ``ChatOpenAI`` sends the length limit as ``max_completion_tokens``, which OpenAI
    accepts but llama.cpp (and other OpenAI-compatible servers) silently ignore; for
    those we send the classic ``max_tokens`` in the request body instead.

    Example:
        >>> llm = build_chat_model(model="smollm2", base_url="http://127.0.0.1:8081/v1")
        >>> async for chunk in llm.astream("Say hi"):
        ...     print(chunk.content, end="")

    """
    return GuardedChatOpenAI(
        breaker=breaker,
        model=model,
        base_url=base_url,
        api_key=SecretStr(api_key or _NO_KEY),
        temperature=temperature,
        max_completion_tokens=max_tokens if base_url is None else None,
        extra_body=None if base_url is None else {"max_tokens": max_tokens},
        timeout=timeout_s,
        max_retries=max_retries,
        streaming=True,
        # The last chunk then carries the engine's token counts (done.metrics).
        stream_usage=True,
        http_async_client=httpx.AsyncClient(timeout=timeout_s),
    )
