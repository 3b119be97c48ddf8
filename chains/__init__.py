"""LCEL building blocks: store, embeddings, retriever, prompt, model, chains, ingestion.

Exports resolve lazily, so importing one light module (``chains.events``, which the
callback handler needs) does not load the embedding model's libraries.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "ChatMessage": "chains.conversation",
    "Citation": "chains.citations",
    "CitationTracker": "chains.citations",
    "DocumentError": "chains.errors",
    "Ingestor": "chains.ingest",
    "InputDocument": "chains.chunking",
    "LocalModelServerError": "chains.errors",
    "RagEvent": "chains.events",
    "RagInput": "chains.rag",
    "RagOutput": "chains.rag",
    "ScoredRetriever": "chains.retriever",
    "Source": "chains.events",
    "StreamingRagError": "chains.errors",
    "build_chat_model": "chains.llm",
    "build_chroma_client": "chains.store",
    "build_embeddings": "chains.embeddings",
    "build_rag_chain": "chains.rag",
    "build_splitter": "chains.chunking",
    "build_vector_store": "chains.store",
    "cite_key": "chains.events",
    "error_event_for": "chains.errors",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'chains' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
