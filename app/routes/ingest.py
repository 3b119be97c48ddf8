"""``POST /index`` (JSON summary), ``POST /index/sse`` and ``POST /index/files/sse``.

The last two stream per-document status events: ``/index/sse`` for documents sent as
JSON, ``/index/files/sse`` for files uploaded as ``multipart/form-data`` (the page's
upload area), read by the same loaders as ``streaming-rag ingest``. All three run the
same :class:`~chains.ingest.Ingestor`. The body's shape is checked before
anything starts (422); each document is then validated on its own, so a bad one
becomes a ``doc_error`` and the others are indexed. A failure of the run as a whole
is the stream's one ``error`` event, or a 503/500 JSON error from ``POST /index``.
Once keys are configured, writes need a key with write on the knowledge base. ``kb``
(in the JSON body or as ``?kb=``; uploads: ``?kb=``) names the knowledge base to write;
an unknown one, or one the key may not read either, is a 404.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, UploadFile
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from app.auth.dependencies import CallerDep
from app.deps import KbQuery, ServicesDep, WritableKbDep, kb_of, open_kb
from app.streams.sse_encoder import PING_SECONDS, SSE_HEADERS, encode
from chains.knowledge_bases import KbName
from chains.loaders import load_upload

router = APIRouter(tags=["ingestion"])

MAX_DOCUMENTS = 1000


class IndexRequest(BaseModel):
    """Documents to index: ``{"id"?: str, "content": str, "metadata"?: {...}}`` each."""

    documents: list[dict[str, Any]] = Field(..., min_length=1, max_length=MAX_DOCUMENTS)
    kb: KbName = ""


@router.post("/index")
async def index(
    body: IndexRequest, services: ServicesDep, caller: CallerDep, kb: KbQuery = ""
) -> dict[str, Any]:
    """Index the documents; answer with what happened to each one, in request order."""
    outcomes: dict[int, dict[str, Any]] = {}
    summary: dict[str, Any] = {}
    target = await open_kb(services, caller, kb_of(body.kb, kb), "write")
    async for event in services.metrics.observe_ingest(target.ingestor.run(body.documents)):
        if event.type == "doc_stage" and event.stage == "ready":
            outcomes[event.index] = {
                "doc_id": event.doc_id,
                "status": "ready",
                "num_chunks": event.num_chunks_indexed,
            }
        elif event.type == "doc_error":
            outcomes[event.index] = {
                "doc_id": event.doc_id,
                "status": "error",
                "error": event.error,
            }
        elif event.type == "pipeline_done":
            summary = event.model_dump(exclude={"type"})
        elif event.type == "error":  # the run failed; say what was indexed before it did
            raise HTTPException(
                status_code=503 if event.retryable else 500,
                detail={**event.model_dump(exclude={"type"}), "documents": _in_order(outcomes)},
            )
    return {**summary, "documents": _in_order(outcomes)}


def _in_order(outcomes: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each document's outcome, in request order."""
    return [outcomes[i] for i in sorted(outcomes)]


@router.post("/index/sse", response_class=EventSourceResponse)
async def index_sse(
    body: IndexRequest, services: ServicesDep, caller: CallerDep, kb: KbQuery = ""
) -> EventSourceResponse:
    """Index the documents, streaming each one's stages as server-sent events."""
    target = await open_kb(services, caller, kb_of(body.kb, kb), "write")
    events = services.metrics.observe_ingest(target.ingestor.run(body.documents))
    return EventSourceResponse(
        encode(services.shutdown.guard(events)), headers=SSE_HEADERS, ping=PING_SECONDS
    )


@router.post("/index/files/sse", response_class=EventSourceResponse)
async def index_files_sse(
    files: Annotated[list[UploadFile], File(description="`.txt`, `.md`, `.html` or `.pdf`")],
    services: ServicesDep,
    kb: WritableKbDep,
) -> EventSourceResponse:
    """Index uploaded files, streaming each one's stages; ``index`` is the file's position.

    Each file is parsed in a child process under the ``RAG_PARSE_*`` limits. A file that
    cannot be loaded (unsupported suffix, not UTF-8, not a PDF, over a limit) is its own
    ``doc_error``; the others are still indexed. A file's id comes from its name, so
    uploading a file of the same name again replaces it.
    """
    limit = services.settings.max_upload_files
    if len(files) > limit:
        raise HTTPException(
            status_code=422, detail=f"at most {limit} files per upload (RAG_MAX_UPLOAD_FILES)"
        )
    loads = [
        functools.partial(load_upload, f.filename or "", await f.read(), services.parser.read)
        for f in files
    ]
    events = services.shutdown.guard(services.metrics.observe_ingest(kb.ingestor.run(loads)))
    return EventSourceResponse(encode(events), headers=SSE_HEADERS, ping=PING_SECONDS)
