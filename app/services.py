"""The long-lived objects of one app: store, retriever, model, chains.

Built once by :func:`app.server.create_app` from :class:`~app.settings.Settings` and
shared with routes through :data:`app.deps.ServicesDep`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from chromadb.api.client import Client
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI

from app.auth.access import Access
from app.auth.store import open_key_store
from app.middleware.observability import ObservedEventStream, ServiceMetrics
from app.settings import Settings
from app.streams.buffers import MemoryBuffer, RedisBuffer, StreamBuffer
from app.streams.drain import ShutdownGate
from app.streams.resume import ResumableStreams
from chains.breaker import LlmBreaker
from chains.chunking import build_splitter
from chains.conversation import build_condenser
from chains.documents import document_text
from chains.embeddings import build_embeddings, close_embeddings, close_embeddings_sync
from chains.grounding import GroundingCheck
from chains.ingest import Ingestor
from chains.isolated_parsing import IsolatedParser
from chains.kb_retriever import KnowledgeBaseRetriever
from chains.keyword import KeywordRetriever
from chains.knowledge_bases import KnowledgeBase, KnowledgeBases, SearchOptions
from chains.llm import build_chat_model
from chains.progressive import ProgressivePlan
from chains.rag import build_answer_chain, build_rag_chain
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, close_chroma_client
from chains.summarize import StreamingSummarizer
from chains.write_lock import collection_write_lock

_log = logging.getLogger("streaming_rag.store")


@dataclass(frozen=True)
class Services:
    """Everything a request handler may need, built once per app."""

    settings: Settings
    embeddings: Embeddings
    chroma: Client
    kbs: KnowledgeBases
    """The knowledge bases; requests name one with ``kb`` (empty: the default)."""
    llm: ChatOpenAI
    breaker: LlmBreaker
    rag_chain: Runnable[Any, dict[str, Any]]
    event_stream: ObservedEventStream
    resumable: ResumableStreams | None
    """Answers that outlive a disconnect for a resume; None with ``RAG_RESUME_GRACE_S=0``."""
    metrics: ServiceMetrics
    shutdown: ShutdownGate
    summarizer: StreamingSummarizer
    access: Access
    """Who is asking, and what they may read and write: the one check every door makes."""
    parser: IsolatedParser
    """Parses every file (uploads, ``ingest``) in a child process, under ``RAG_PARSE_*`` limits."""
    owns_embeddings: bool = False
    """The model was built here (not lent by the caller), so closing the app releases it."""

    @property
    def default_kb(self) -> KnowledgeBase:
        """The default knowledge base (``RAG_COLLECTION``)."""
        return self.kbs.get()

    @property
    def store(self) -> Chroma:
        """The default knowledge base's vector store."""
        return self.default_kb.store

    @property
    def retriever(self) -> ScoredRetriever:
        """The default knowledge base's vector search."""
        return self.default_kb.vector

    @property
    def keyword(self) -> KeywordRetriever:
        """The default knowledge base's keyword search."""
        return self.default_kb.keyword

    @property
    def ingestor(self) -> Ingestor:
        """The default knowledge base's ingestion pipeline."""
        return self.default_kb.ingestor

    async def close(self) -> None:
        """Stop answers still running for a resume; release every connection the app opened."""
        if self.resumable is not None:
            await self.resumable.aclose()
        if self.llm.http_async_client is not None:
            await self.llm.http_async_client.aclose()
        await self.access.store.aclose()
        if self.owns_embeddings:
            await close_embeddings(self.embeddings)


def build_services(
    settings: Settings,
    *,
    embeddings: Embeddings | None = None,
    metrics: ServiceMetrics | None = None,
) -> Services:
    """Open the store, load the embedding model and compose the chains.

    ``embeddings`` lets a caller share one loaded model between several apps (tests do).
    A build that fails midway (the collection holds another model's vectors) closes what it
    opened before raising.
    """
    owns_embeddings = embeddings is None
    if embeddings is None:
        embeddings = build_embeddings(
            settings.embeddings,
            openai_model=settings.openai_embeddings_model,
            api_key=settings.embeddings_key,
            base_url=settings.embeddings_base_url,
            backend=settings.embeddings_backend,
            threads=settings.embeddings_threads,
            cache=settings.embeddings_cache,
            timeout_s=settings.embeddings_timeout_s,
            max_retries=settings.llm_max_retries,
        )
    chroma: Client | None = None
    try:
        chroma = build_chroma_client(
            path=settings.chroma_path, host=settings.chroma_host, port=settings.chroma_port
        )
        return _compose(settings, embeddings, chroma, metrics or ServiceMetrics(), owns_embeddings)
    except BaseException:
        if chroma is not None:
            close_chroma_client(chroma)
        if owns_embeddings:
            close_embeddings_sync(embeddings)
        raise


def _compose(
    settings: Settings,
    embeddings: Embeddings,
    chroma: Client,
    metrics: ServiceMetrics,
    owns_embeddings: bool,
) -> Services:
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    shutdown = ShutdownGate(settings.shutdown_grace_s)
    # Opening the default collection checks its embedding model by embedding a probe,
    # which also warms the model.
    kbs = KnowledgeBases(
        chroma,
        embeddings,
        model_name=settings.embedding_model_name,
        default=settings.collection,
        splitter=build_splitter(settings.chunk_size, settings.chunk_overlap),
        lock_for=functools.partial(
            collection_write_lock, directory=settings.data_dir, redis_url=settings.redis_url
        ),
        search=SearchOptions(
            top_k=settings.top_k,
            min_score=settings.min_score,
            per_document=settings.sources_per_document,
            title_weight=settings.title_weight,
            timeout_s=settings.embeddings_timeout_s,
        ),
        chunk_context=settings.chunk_context,
        on_repair=_log_repair,
    )
    breaker = LlmBreaker(threshold=settings.breaker_threshold, reset_s=settings.breaker_reset_s)
    llm = build_chat_model(
        model=settings.llm_model or "",
        base_url=settings.effective_llm_base_url,
        api_key=api_key,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        breaker=breaker,
    )
    widening = KnowledgeBaseRetriever(bases=kbs, search="widening", name="widening")
    rag_chain = build_rag_chain(widening, llm, default_k=settings.top_k)
    progressive = ProgressivePlan(
        retriever=widening,
        waves=[KnowledgeBaseRetriever(bases=kbs, search="hybrid", name="hybrid")],
        answer=build_answer_chain(llm),
        first_k=settings.progressive_first_k,
        condenser=build_condenser(llm),
        follow_up_search=settings.follow_up_search,
        follow_up_draft=settings.follow_up_draft,
    )
    event_stream = ObservedEventStream(
        rag_chain,
        maxsize=settings.queue_maxsize,
        default_k=settings.top_k,
        progressive=progressive,
        progressive_default=settings.progressive,
        metrics=metrics,
        shutdown=shutdown,
        grounding=GroundingCheck(
            embeddings,
            min_score=settings.grounding_min_score,
            timeout_s=settings.embeddings_timeout_s,
            stored=kbs.stored_vectors,
        )
        if settings.grounding
        else None,
    )
    return Services(
        owns_embeddings=owns_embeddings,
        parser=IsolatedParser(settings.parse_limits),
        settings=settings,
        embeddings=embeddings,
        chroma=chroma,
        kbs=kbs,
        llm=llm,
        breaker=breaker,
        rag_chain=rag_chain,
        event_stream=event_stream,
        resumable=_resumable(settings, event_stream),
        metrics=metrics,
        shutdown=shutdown,
        # Parts are summarized as many at once as the engine has parallel slots.
        summarizer=StreamingSummarizer(
            llm,
            lookup=lambda doc_id, kb: document_text(kbs.get(kb).store, doc_id),
            concurrency=settings.local_llm_slots,
        ),
        access=Access(
            open_key_store(settings.key_file, settings.redis_url),
            admin_key=settings.api_key.get_secret_value() if settings.api_key else None,
            protect_reads=settings.protect_reads,
            default_kb=settings.collection,
        ),
    )


def _log_repair(kb: str, repaired: dict[str, int]) -> None:
    _log.warning("%s: removed stale chunks a crash left mid-replacement: %s", kb, repaired)


def _resumable(settings: Settings, stream: ObservedEventStream) -> ResumableStreams | None:
    """Resumable answers over Redis or in memory, unless the grace is 0."""
    if settings.resume_grace_s == 0:
        return None
    url = settings.redis_url
    kind = functools.partial(RedisBuffer, url) if url else MemoryBuffer
    buffer: StreamBuffer = kind(
        max_events=settings.resume_buffer_events,
        ttl_s=settings.resume_ttl_s,
        grace_s=settings.resume_grace_s,
    )
    return ResumableStreams(stream, buffer, grace_s=settings.resume_grace_s)
