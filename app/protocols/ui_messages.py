"""The Vercel AI SDK's UI message stream, over the typed event stream.

``useChat`` (through the SDK's ``DefaultChatTransport``) posts the conversation as UI
messages, each a list of ``parts``; the last user message is the question and the
earlier text parts the ``chat_history``. Extra body fields ``kb`` and ``k`` pick the
knowledge base and the number of sources, as on ``/rag/sse``.

The answer is the stream's chunks, one JSON object per ``data:`` line, ``[DONE]`` last:

| event | UI message chunk |
| --- | --- |
| (first) | ``start`` with the ``messageId`` |
| ``source`` | ``source-document``, before any text (key, score, text: ``providerMetadata.rag``) |
| ``status`` | ``data-status``, transient (``onData`` sees it; the message does not keep it) |
| ``token`` | ``text-start`` once, then ``text-delta`` |
| ``citation`` | ``data-citation``, one part per key (``id`` is the key) |
| ``grounding`` | ``data-grounding``, one part per checked sentence of the text part |
| ``context_update`` | ``source-document`` for each new chunk, then ``data-context-update`` |
| ``revise`` | ``text-end``, ``data-revise``; the restarted answer is a new text part |
| ``done`` | ``text-end``, ``data-metrics`` (citations, timings), ``finish`` |
| ``error`` | ``error`` with the message as ``errorText`` |
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chains.events import RagEvent, Source
from chains.knowledge_bases import KbName

UI_STREAM_HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}
"""The header by which the SDK knows the stream's version."""

MAX_MESSAGES = 1000


class UIPart(BaseModel):
    """A part of a UI message; only ``text`` parts are read."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class UIMessage(BaseModel):
    """One message of the chat: its role and parts."""

    model_config = ConfigDict(extra="allow")

    id: str = ""
    role: Literal["system", "user", "assistant"]
    parts: list[UIPart] = Field(default_factory=list, max_length=MAX_MESSAGES)

    def text(self) -> str:
        """The message's text parts, joined."""
        return "".join(part.text or "" for part in self.parts if part.type == "text")


class UIChatRequest(BaseModel):
    """What ``useChat`` posts: the chat's id, its messages, the trigger; plus our options."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    messages: list[UIMessage] = Field(..., min_length=1, max_length=MAX_MESSAGES)
    trigger: str | None = None
    kb: KbName = ""
    k: int | None = Field(None, description="how many sources to retrieve")


def ui_turns(request: UIChatRequest) -> list[tuple[str, str]]:
    """The request's messages as ``(role, text)`` turns."""
    return [(message.role, message.text()) for message in request.messages]


def _document(source: Source) -> dict[str, Any]:
    """A ``source-document`` chunk for one retrieved chunk."""
    meta = source.metadata
    title = meta.get("title") or meta.get("source") or source.doc_id or source.cite
    chunk: dict[str, Any] = {
        "type": "source-document",
        "sourceId": source.id or source.cite,
        "mediaType": "text/plain",
        "title": str(title),
    }
    if isinstance(meta.get("source"), str):
        chunk["filename"] = meta["source"]
    chunk["providerMetadata"] = {
        "rag": {
            "cite": source.cite,
            "doc_id": source.doc_id,
            "index": source.index,
            "score": source.score,
            "content": source.content,
            "metadata": meta,
        }
    }
    return chunk


class UIMessageChunks:
    """Turns one answer's events into UI message stream chunks."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.texts = 0
        self.open_text: str | None = None

    def _start_text(self) -> list[dict[str, Any]]:
        if self.open_text is not None:
            return []
        self.texts += 1
        self.open_text = f"text-{self.texts}"
        return [{"type": "text-start", "id": self.open_text}]

    def _end_text(self) -> list[dict[str, Any]]:
        if self.open_text is None:
            return []
        ended, self.open_text = self.open_text, None
        return [{"type": "text-end", "id": ended}]

    def _delta(self, text: str) -> dict[str, Any]:
        return {"type": "text-delta", "id": self.open_text, "delta": text}

    async def translate(self, events: AsyncIterator[RagEvent]) -> AsyncIterator[dict[str, Any]]:
        """The chunks of the answer, from ``start`` to ``finish`` (or ``error``)."""
        yield {"type": "start", "messageId": self.message_id}
        async for event in events:
            for chunk in self._chunks(event):
                yield chunk

    def _chunks(self, event: RagEvent) -> list[dict[str, Any]]:
        if isinstance(event, Source):
            return [_document(event)]
        if event.type == "status":
            data = {"phase": event.phase, "message": event.message}
            return [{"type": "data-status", "data": data, "transient": True}]
        if event.type == "token":
            return [*self._start_text(), self._delta(event.content)]
        if event.type == "citation":
            data = event.model_dump(exclude={"type"})
            return [{"type": "data-citation", "id": event.cite, "data": data}]
        if event.type == "grounding":
            checked = {**event.model_dump(exclude={"type"}), "text_id": self.open_text}
            part_id = f"{self.open_text}-grounding-{event.index}"
            return [{"type": "data-grounding", "id": part_id, "data": checked}]
        if event.type == "context_update":
            update = event.model_dump(exclude={"type", "sources"})
            return [
                *(_document(source) for source in event.sources),
                {"type": "data-context-update", "id": f"wave-{event.wave}", "data": update},
            ]
        if event.type == "revise":
            revise = {"type": "data-revise", "id": f"revise-{event.wave}"}
            return [*self._end_text(), {**revise, "data": event.model_dump(exclude={"type"})}]
        if event.type == "done":
            chunks = []
            if self.texts == 0 and event.answer:  # no model call: the decline as text
                chunks = [*self._start_text(), self._delta(event.answer)]
            metrics = event.model_dump(exclude={"type", "answer"})
            return [
                *chunks,
                *self._end_text(),
                {"type": "data-metrics", "id": "metrics", "data": metrics},
                {"type": "finish", "finishReason": "stop"},
            ]
        if event.type == "error":
            return [*self._end_text(), {"type": "error", "errorText": event.message}]
        return []  # ttft: its figure is in data-metrics
