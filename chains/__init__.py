"""LCEL building blocks: store, embeddings, retriever, prompt, model, chains, ingestion.

Exports resolve lazily: ``callbacks`` imports ``chains.events``, and an eager import
of ``chains.event_stream`` here would make that a cycle.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "Citation": "chains.citations",
    "CitationTracker": "chains.citations",
    "InputDocument": "chains.ingest",
    "RagEvent": "chains.events",
    "RagEventStream": "chains.event_stream",
    "RagInput": "chains.rag",
    "RagOutput": "chains.rag",
    "ScoredRetriever": "chains.retriever",
    "StreamRequest": "chains.event_stream",
    "build_chat_model": "chains.llm",
    "build_chroma_client": "chains.store",
    "build_embeddings": "chains.embeddings",
    "build_rag_chain": "chains.rag",
    "build_splitter": "chains.ingest",
    "build_vector_store": "chains.store",
    "error_event_for": "chains.events",
    "index_documents": "chains.ingest",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'chains' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
