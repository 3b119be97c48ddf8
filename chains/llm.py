"""The chat model: always ``ChatOpenAI(streaming=True)``, whatever serves it.

The local llama.cpp server, OpenAI, vLLM and Ollama all speak the same protocol, so
only the base URL, key and model name change between deployments.
"""

from __future__ import annotations

import httpx
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

_NO_KEY = "not-needed"
"""Local OpenAI-compatible servers ignore the key, but the client insists on one."""


def build_chat_model(
    *,
    model: str,
    base_url: str | None = None,
    api_key: str | None = None,
    temperature: float = 0.1,
    max_tokens: int = 256,
    timeout_s: float = 60.0,
) -> ChatOpenAI:
    """Build the streaming chat model.

    Retries are off: a stream that has started cannot be replayed transparently, so
    failures surface to the caller, which reports them as a typed ``error`` event.

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
    return ChatOpenAI(
        model=model,
        base_url=base_url,
        api_key=SecretStr(api_key or _NO_KEY),
        temperature=temperature,
        max_completion_tokens=max_tokens if base_url is None else None,
        extra_body=None if base_url is None else {"max_tokens": max_tokens},
        timeout=timeout_s,
        max_retries=0,
        streaming=True,
        http_async_client=httpx.AsyncClient(timeout=timeout_s),
    )
