"""The Model Context Protocol door: the knowledge bases as tools and resources for agents.

The official SDK's :class:`~mcp.server.fastmcp.FastMCP`, served at ``/mcp``
(:mod:`app.routes.mcp`) and over stdio (``streaming-rag mcp``). Its tools:

- ``list_knowledge_bases``: those the key may read, with documents, chunks, model.
- ``search``: the chunks nearest a query (the vector ranking answers start from), each
  with ``id``, ``doc_id``, ``title``, ``source``, ``score``, text and a ``kb://`` address.
- ``ask``: an answer through the same event stream as ``/rag/sse``, with its sources,
  citations and per-sentence grounding; progress notifications per stage when the
  client sent a progress token. A client that leaves cancels the model request.
- ``index_text``, ``delete_document``: write scope, annotated destructive, offered only
  with ``RAG_MCP_WRITE_TOOLS``.

A resource template, ``kb://{kb}/documents/{doc_id}``, returns a document's text.

Who is asking is the HTTP request's ``request.user`` (resolved once by the app's
authentication middleware) or, over stdio, the principal of ``RAG_MCP_KEY``; every tool
checks it with :func:`app.deps.open_kb`, so an unknown and a forbidden knowledge base
give the same error. Refusals and bad arguments are tool errors (``isError``), never a
transport failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from app.auth.principal import Action, Principal
from app.deps import open_kb, stream_request
from app.protocols.mcp_results import (
    DOCUMENT_TEMPLATE,
    AnswerCollector,
    AnswerResult,
    KnowledgeBaseEntry,
    KnowledgeBaseList,
    SearchResult,
    WriteResult,
    capped,
    hit_chunk,
    tool_result,
)
from app.services import Services
from chains.conversation import ChatMessage
from chains.documents import count_documents, document_text
from chains.errors import DocumentNotFoundError, StreamingRagError
from chains.events import ErrorEvent
from chains.ingest import collection_size
from chains.ingest_events import DocErrorEvent, DocStageEvent, PipelineDoneEvent
from chains.knowledge_bases import KnowledgeBase
from chains.rag import MAX_K, MAX_QUESTION_CHARS

__all__ = ["build_mcp_server"]

_log = logging.getLogger("streaming_rag.mcp")

INSTRUCTIONS = (
    "Search and answer from the user's knowledge bases. list_knowledge_bases names them; "
    "search returns chunks with ids, scores and a kb:// address to read the whole "
    "document; ask answers with citations checked against the sources and each sentence "
    "grounded. kb may be left empty for the default knowledge base."
)
READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, openWorldHint=False)

Kb = Annotated[
    str, Field(max_length=63, description="a knowledge base (list_knowledge_bases); empty: default")
]


def build_mcp_server(
    services: Services,
    *,
    local_caller: Principal | None = None,
    allowed_hosts: list[str] | None = None,
    allowed_origins: list[str] | None = None,
) -> FastMCP:
    """The MCP server over ``services``: its tools, and the document resource template.

    ``local_caller`` is who a request without an HTTP request (stdio) acts as;
    ``allowed_hosts`` are the ``Host`` values streamable HTTP accepts (``["*"]``: any).

    Example:
        >>> server = build_mcp_server(services, local_caller=OPEN)
        >>> await server.run_stdio_async()

    """
    hosts = allowed_hosts or []
    server = FastMCP(
        "streaming-rag",
        instructions=INSTRUCTIONS,
        stateless_http=True,
        json_response=False,  # server-sent responses, so progress reaches the client
        log_level="WARNING",
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection="*" not in hosts,
            allowed_hosts=hosts,
            allowed_origins=allowed_origins or [],
        ),
    )
    tools = _Tools(services, local_caller)
    server.tool(annotations=READ_ONLY, structured_output=True)(tools.list_knowledge_bases)
    server.tool(annotations=READ_ONLY)(tools.search)
    server.tool(annotations=READ_ONLY)(tools.ask)
    server.resource(
        DOCUMENT_TEMPLATE,
        name="document",
        description="The text of one indexed document, put back together from its chunks.",
        mime_type="text/plain",
    )(tools.document)
    if services.settings.mcp_write_tools:
        writes = ToolAnnotations(readOnlyHint=False, destructiveHint=True, openWorldHint=False)
        server.tool(annotations=writes)(tools.index_text)
        server.tool(annotations=writes.model_copy(update={"idempotentHint": True}))(
            tools.delete_document
        )
    return server


class _Tools:
    """The tools' bodies, over one app's services."""

    def __init__(self, services: Services, local_caller: Principal | None) -> None:
        self.services, self.local_caller = services, local_caller

    def _caller(self, ctx: Context) -> Principal:  # type: ignore[type-arg]
        request = ctx.request_context.request
        caller = self.local_caller if request is None else request.user
        if not isinstance(caller, Principal):
            raise ToolError("nobody to act as: no request and no local caller")
        if caller.unresolved is not None:
            raise ToolError(caller.unresolved)
        return caller

    async def _open(self, ctx: Context, kb: str, action: Action = "read") -> KnowledgeBase:  # type: ignore[type-arg]
        with _refusals():
            return await open_kb(self.services, self._caller(ctx), kb, action)

    async def list_knowledge_bases(self, ctx: Context) -> KnowledgeBaseList:  # type: ignore[type-arg]
        """The knowledge bases this key may read: documents, chunks and embedding model."""
        caller, access = self._caller(ctx), self.services.access

        def entries() -> list[KnowledgeBaseEntry]:
            return [
                KnowledgeBaseEntry(
                    name=info.name,
                    documents=count_documents(self.services.kbs.get(info.name).store),
                    chunks=info.chunks,
                    embedding_model=info.embedding_model,
                    default=info.default,
                    access=access.actions(caller, info.name),
                )
                for info in self.services.kbs.describe()
                if access.may_read(caller, info.name)
            ]

        with _refusals():
            return KnowledgeBaseList(knowledge_bases=await asyncio.to_thread(entries))

    async def search(
        self,
        query: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)],
        ctx: Context,  # type: ignore[type-arg]
        kb: Kb = "",
        k: Annotated[int, Field(ge=1, le=MAX_K, description="how many chunks")] = 5,
        min_score: Annotated[
            float, Field(ge=0.0, le=1.0, description="leave out chunks scoring under this")
        ] = 0.0,
    ) -> Annotated[CallToolResult, SearchResult]:
        """The chunks of a knowledge base nearest the query, best first, with ids and scores.

        Each chunk has a kb:// address; read it as a resource for the whole document.
        """
        if not query.strip():
            raise ToolError("query must not be empty or whitespace")
        base = await self._open(ctx, kb)
        with _refusals():
            hits = await base.vector.ainvoke(query, k=k)
        chunks = [hit_chunk(base.name, hit) for hit in hits]
        kept, note = capped([c for c in chunks if c.score >= min_score])
        result = SearchResult(
            kb=base.name, query=query, chunks=kept, truncated=note is not None, note=note
        )
        return tool_result(result, (chunk.uri for chunk in kept))

    async def ask(
        self,
        question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)],
        ctx: Context,  # type: ignore[type-arg]
        kb: Kb = "",
        chat_history: Annotated[
            list[ChatMessage] | None, Field(description="earlier turns, oldest first")
        ] = None,
        k: Annotated[int | None, Field(ge=1, le=MAX_K, description="sources")] = None,
        progressive: Annotated[
            bool | None, Field(description="start from the best source, add more in waves")
        ] = None,
    ) -> Annotated[CallToolResult, AnswerResult]:
        """Answer from a knowledge base, citing its sources; each sentence is grounded.

        The result holds the answer, the sources it cites by key (doc-001...), which
        citations are valid, and for each sentence the source that supports it.
        """
        body: dict[str, Any] = {"question": question, "kb": kb}
        if chat_history:
            body["chat_history"] = [turn.model_dump() for turn in chat_history]
        body |= {name: v for name, v in (("k", k), ("progressive", progressive)) if v is not None}
        with _refusals():
            request = stream_request(self.services, body)
        base = await self._open(ctx, request.kb)
        answer = AnswerCollector(base.name, request.question)
        step = 0
        async for event in self.services.event_stream.astream(request):
            if event.type == "error":
                raise ToolError(f"the answer failed ({event.code}): {event.message}")
            if (message := answer.add(event)) is not None:
                step += 1
                await ctx.report_progress(step, None, message)
        result = answer.result()
        return tool_result(result, (source.uri for source in result.sources))

    async def document(self, kb: str, doc_id: str, ctx: Context) -> str:  # type: ignore[type-arg]
        """The text of one document of a knowledge base."""
        base = await self._open(ctx, unquote(kb))
        doc = unquote(doc_id)
        text = await asyncio.to_thread(document_text, base.store, doc)
        if text is None:
            raise DocumentNotFoundError(f"no document {doc!r} in the knowledge base {base.name!r}")
        return text

    async def index_text(
        self,
        text: Annotated[str, Field(min_length=1)],
        doc_id: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^:\s]+$")],
        ctx: Context,  # type: ignore[type-arg]
        kb: Kb = "",
        title: str | None = None,
        source: str | None = None,
    ) -> WriteResult:
        """Index a text as one document (replacing one with the same id); needs write access."""
        base = await self._open(ctx, kb, "write")
        metadata = {key: value for key, value in (("title", title), ("source", source)) if value}
        chunks, size = 0, 0
        run = base.ingestor.run([{"id": doc_id, "content": text, "metadata": metadata}])
        with _refusals():
            async for event in self.services.metrics.observe_ingest(run):  # as POST /index
                if isinstance(event, DocErrorEvent | ErrorEvent):
                    raise ToolError(f"not indexed: {event.model_dump(exclude={'type'})}")
                if isinstance(event, DocStageEvent) and event.stage == "ready":
                    chunks = event.num_chunks_indexed or 0
                if isinstance(event, PipelineDoneEvent):
                    size = event.collection_size
        return WriteResult(kb=base.name, doc_id=doc_id, chunks=chunks, collection_size=size)

    async def delete_document(
        self,
        doc_id: Annotated[str, Field(min_length=1, max_length=256)],
        ctx: Context,  # type: ignore[type-arg]
        kb: Kb = "",
    ) -> WriteResult:
        """Delete a document's chunks from a knowledge base; needs write access."""
        base = await self._open(ctx, kb, "write")
        with _refusals():
            gone = (await base.ingestor.remove([doc_id], missing_ok=False))[doc_id]
            size = await asyncio.to_thread(collection_size, base.store)
        return WriteResult(kb=base.name, doc_id=doc_id, chunks=gone, collection_size=size)


@contextmanager
def _refusals() -> Iterator[None]:
    """Our refusals as tool errors with their message; anything else without its text."""
    try:
        yield
    except ToolError:
        raise
    except HTTPException as exc:
        raise ToolError(str(exc.detail)) from exc
    except RequestValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg')}"
            for error in exc.errors()
        )
        raise ToolError(f"invalid arguments: {problems}") from exc
    except (StreamingRagError, ValueError) as exc:
        raise ToolError(str(exc)) from exc
    except Exception as exc:
        _log.exception("an MCP tool failed")
        raise ToolError("internal error; the service's log has the details") from exc
