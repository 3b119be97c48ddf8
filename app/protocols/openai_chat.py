"""OpenAI chat completions, over the typed event stream: the request in, chunks out.

The last message is the question and the earlier user and assistant turns its
``chat_history``; system, developer and tool messages are left out, since the service
writes its own instructions. A model id names the knowledge base: ``rag`` is the
default one, ``rag:<name>`` another (``GET /v1/models`` lists them).

Streaming, every answer is ``chat.completion.chunk`` objects. The service's own
findings travel in extra fields, which the official clients keep (their models allow
extra keys) and ignore unless asked:

- ``sources``: the chunks the answer is written from, in one chunk before any text
  (and later waves' new chunks, with ``context_update``),
- ``citations``: a citation key the answer just wrote, with its source and validity,
- ``grounding``: a sentence the answer just finished, checked against the sources
  (its span in the content, best source, score, supported, citation_supported),
- ``revise``: the answer restarts on a richer context (``RAG_FOLLOW_UP_DRAFT=at_once``
  or ``progressive``); text already sent cannot be taken back on this protocol,
- ``rag``: on the last chunk, what ``done`` says (cited, uncited, invalid, metrics).

``max_tokens`` (or ``max_completion_tokens``) ends the answer there: the model request
is closed and ``finish_reason`` is ``length``. ``usage`` counts the answer's tokens
(one per model delta); ``prompt_tokens`` is 0, since the prompt is built and counted
by the engine, not here. ``temperature`` is validated (0-2) but the service's own
``RAG_LLM_TEMPERATURE`` applies: one chain serves every request.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from chains.conversation import MAX_HISTORY_MESSAGES, MAX_MESSAGE_CHARS
from chains.events import ErrorEvent, RagEvent, Source

MODEL = "rag"
"""The model id of the default knowledge base; ``rag:<name>`` names another."""

MAX_MESSAGES = 1000


class TextPart(BaseModel):
    """A text part of a message's content (images and audio are not read)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text"]
    text: str


class Message(BaseModel):
    """One message of the conversation, as OpenAI clients send it."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The message's text: the string, or its text parts joined."""
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    """``stream_options``: only ``include_usage`` is read."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The fields of OpenAI's request that the service reads; others are accepted, unused."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(MODEL, description="`rag` (the default knowledge base) or `rag:<name>`")
    messages: list[Message] = Field(..., min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1, description="one choice per request")
    k: int | None = Field(None, description="streaming-rag: how many sources to retrieve")

    @property
    def token_limit(self) -> int | None:
        """Where the answer ends: ``max_completion_tokens``, else ``max_tokens``."""
        return self.max_completion_tokens or self.max_tokens

    @property
    def include_usage(self) -> bool:
        """Whether a last chunk with ``usage`` is asked for."""
        return self.stream_options is not None and self.stream_options.include_usage


def kb_of_model(model: str) -> str:
    """The knowledge base a model id names (empty: the default); raises if it is not ours."""
    if model == MODEL:
        return ""
    prefix, _, name = model.partition(":")
    if prefix != MODEL or not name:
        raise LookupError(f"the model {model!r} does not exist; GET /v1/models lists them")
    return name


def model_ids(kb_names: Iterable[str], default: str) -> list[str]:
    """``rag`` for the default knowledge base, then ``rag:<name>`` for each other one."""
    names = list(kb_names)
    ids = [f"{MODEL}:{name}" for name in names if name != default]
    return [MODEL, *ids] if default in names else ids


def stream_input(turns: list[tuple[str, str]], *, kb: str, k: int | None) -> dict[str, Any]:
    """The event stream's input from ``(role, text)`` turns: the last one is the question.

    A conversation that does not end on a user message is a 422 (400 on ``/v1``).

    Earlier turns keep their newest :data:`~chains.conversation.MAX_HISTORY_MESSAGES`,
    each cut to :data:`~chains.conversation.MAX_MESSAGE_CHARS` (the answer prompt keeps
    fewer still), so a long chat from a front end is answered rather than refused.
    """
    turns = [(role, text.strip()) for role, text in turns if role in ("user", "assistant")]
    turns = [(role, text) for role, text in turns if text]
    if not turns or turns[-1][0] != "user":
        raise RequestValidationError(
            [
                {
                    "loc": ["body", "messages"],
                    "msg": "the last message must be the user's question",
                    "type": "value_error",
                }
            ]
        )
    history = [
        {"role": role, "content": text[:MAX_MESSAGE_CHARS]}
        for role, text in turns[:-1][-MAX_HISTORY_MESSAGES:]
    ]
    body: dict[str, Any] = {"question": turns[-1][1], "chat_history": history, "kb": kb}
    if k is not None:
        body["k"] = k
    return body


def openai_turns(request: ChatCompletionRequest) -> list[tuple[str, str]]:
    """The request's messages as ``(role, text)`` turns."""
    return [(message.role, message.text()) for message in request.messages]


class CompletionChunks:
    """Turns one answer's events into ``chat.completion.chunk`` payloads, counting tokens."""

    def __init__(self, completion_id: str, model: str, *, token_limit: int | None) -> None:
        self.id = completion_id
        self.model = model
        self.created = int(time.time())
        self.token_limit = token_limit
        self.tokens = 0
        self.failed: ErrorEvent | None = None

    def _chunk(
        self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            **extra,
        }

    async def translate(self, events: AsyncIterator[RagEvent]) -> AsyncIterator[dict[str, Any]]:
        """The chunks of the answer, ending with a finish reason (or an error)."""
        yield self._chunk({"role": "assistant", "content": ""})
        sources: list[dict[str, Any]] = []
        async for event in events:
            if isinstance(event, Source):
                sources.append(event.model_dump())
                continue
            if sources:  # every source of wave 1 comes before any other event
                yield self._chunk({}, sources=sources)
                sources = []
            if event.type == "token":
                self.tokens += 1
                yield self._chunk({"content": event.content})
                if self.token_limit is not None and self.tokens >= self.token_limit:
                    yield self._last("length", None)
                    return
            elif event.type == "citation":
                yield self._chunk({}, citations=[event.model_dump(exclude={"type"})])
            elif event.type == "grounding":
                yield self._chunk({}, grounding=[event.model_dump(exclude={"type"})])
            elif event.type == "context_update":
                update = event.model_dump(exclude={"type", "sources"})
                yield self._chunk(
                    {},
                    sources=[s.model_dump() for s in event.sources],
                    context_update=update,
                )
            elif event.type == "revise":
                yield self._chunk({}, revise=event.model_dump(exclude={"type"}))
            elif event.type == "done":
                if self.tokens == 0 and event.answer:
                    # No model call (nothing in the knowledge base): the decline as text.
                    yield self._chunk({"content": event.answer})
                yield self._last("stop", event.model_dump(exclude={"type", "answer"}))
                return
            elif event.type == "error":
                self.failed = event
                yield {"error": openai_error(event.message, "api_error", event.code)}
                return

    def _last(self, reason: str, rag: dict[str, Any] | None) -> dict[str, Any]:
        return self._chunk({}, reason, **({"rag": rag} if rag is not None else {}))

    def usage_chunk(self) -> dict[str, Any]:
        """The extra last chunk ``stream_options.include_usage`` asks for."""
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage(self.tokens),
        }


def usage(completion_tokens: int) -> dict[str, int]:
    """OpenAI's ``usage``: the answer's tokens; the prompt's are not counted here (0)."""
    return {
        "prompt_tokens": 0,
        "completion_tokens": completion_tokens,
        "total_tokens": completion_tokens,
    }


def openai_error(
    message: str, kind: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object: ``{"message", "type", "param", "code"}``."""
    return {"message": message, "type": kind, "param": param, "code": code}


async def completion(
    chunks: CompletionChunks, events: AsyncIterator[RagEvent]
) -> dict[str, Any] | dict[str, dict[str, Any]]:
    """One ``chat.completion`` from the whole stream (or ``{"error": ...}``)."""
    content: list[str] = []
    sources: list[dict[str, Any]] = []
    citations: list[dict[str, Any]] = []
    grounding: list[dict[str, Any]] = []
    finish_reason, rag = "stop", None
    async for chunk in chunks.translate(events):
        if "error" in chunk:
            return chunk
        sources.extend(chunk.get("sources", []))
        citations.extend(chunk.get("citations", []))
        grounding.extend(chunk.get("grounding", []))
        choice = chunk["choices"][0]
        content.append(choice["delta"].get("content") or "")
        finish_reason = choice["finish_reason"] or finish_reason
        rag = chunk.get("rag", rag)
    return {
        "id": chunks.id,
        "object": "chat.completion",
        "created": chunks.created,
        "model": chunks.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(content)},
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage(chunks.tokens),
        "sources": sources,
        "citations": citations,
        "grounding": grounding,
        "rag": rag,
    }
