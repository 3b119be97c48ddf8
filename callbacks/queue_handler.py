"""The async callback handler that turns a chain run into typed events on a queue.

Rules it keeps:

- Async only, and ``run_inline``: LangChain awaits each hook before the run goes on, so
  events enter the queue in the order the run produced them.
- Bounded: every event is ``await queue.put(...)`` on a queue with a ``maxsize``. When a
  slow client lets the queue fill, the hook waits, so ``ChatOpenAI`` stops reading the
  LLM's HTTP stream until the client catches up. Memory stays bounded.
- Never drops an event. Empty deltas (``""``, sent at the end of an OpenAI-style stream)
  carry no text and are not events.

Cancellation, which task cancels which (see :mod:`callbacks.event_stream`): the consumer
(the SSE route's generator or LangServe's stream) owns the producer task that runs the
chain. When the client goes away, the consumer is cancelled and cancels the producer in
its ``finally``. That cancellation reaches the hook blocked on ``queue.put`` or the
``ChatOpenAI`` stream, which closes the upstream HTTP request. The handler never
cancels anything itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import LLMResult

from chains.errors import error_event_for
from chains.events import RagEvent, Source, StatusEvent, TokenEvent


class QueueCallbackHandler(AsyncCallbackHandler):
    """Push ``source``, ``status``, ``token`` and ``error`` events onto a bounded queue.

    Example:
        >>> queue: asyncio.Queue[RagEvent] = asyncio.Queue(maxsize=256)
        >>> handler = QueueCallbackHandler(queue)
        >>> await chain.ainvoke(request, {"callbacks": [handler]})

    """

    run_inline = True

    def __init__(self, queue: asyncio.Queue[RagEvent], *, stream_sources: bool = True) -> None:
        if queue.maxsize <= 0:
            raise ValueError("the event queue must be bounded (maxsize > 0)")
        self.queue = queue
        self.stream_sources = stream_sources
        self.sources: list[Source] = []
        self.retrieval_ms: float | None = None
        self.failed = False
        self.usage: UsageMetadata | None = None
        """The engine's token counts of the last model call (the answer's), when it sent them."""
        self._retrieval_started: float | None = None

    async def on_retriever_start(
        self, serialized: dict[str, Any], query: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Start the retrieval clock."""
        self._retrieval_started = time.perf_counter()

    async def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Emit one ``source`` event per retrieved chunk, in rank order."""
        if self._retrieval_started is not None:
            self.retrieval_ms = (time.perf_counter() - self._retrieval_started) * 1000
        for index, doc in enumerate(documents):
            source = Source.from_document(doc, index)
            self.sources.append(source)
            if self.stream_sources:
                await self.queue.put(source)

    async def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Emit ``status: widening`` for each step of an incremental search."""
        if name == "widening":
            await self.queue.put(StatusEvent(phase="widening", message=data["message"]))

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        """Emit ``status: generating`` as the model request goes out."""
        await self.queue.put(StatusEvent(phase="generating", message="writing the answer"))

    async def on_llm_new_token(
        self, token: str | list[str | dict[str, Any]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Emit one ``token`` event per non-empty delta (content blocks joined as text)."""
        text = token if isinstance(token, str) else "".join(_block_text(b) for b in token)
        if text:
            await self.queue.put(TokenEvent(content=text))

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Keep the call's token counts: the answer is the last call, so its counts stay."""
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                if isinstance(message, AIMessage) and message.usage_metadata:
                    self.usage = message.usage_metadata

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Emit the run's ``error`` event."""
        await self._fail(error)

    async def on_retriever_error(
        self, error: BaseException, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Emit the run's ``error`` event."""
        await self._fail(error)

    async def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Emit the run's ``error`` event."""
        await self._fail(error)

    async def _fail(self, error: BaseException) -> None:
        """Emit one error event per run: every enclosing chain reports the same failure."""
        if self.failed or isinstance(error, asyncio.CancelledError):
            return
        self.failed = True
        await self.queue.put(error_event_for(error))


def _block_text(block: str | dict[str, Any]) -> str:
    """The text of one content block; non-text blocks (tool calls, images) have none."""
    if isinstance(block, str):
        return block
    return str(block.get("text", "")) if block.get("type", "text") == "text" else ""
