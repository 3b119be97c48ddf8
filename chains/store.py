"""The Chroma vector store: embedded ``PersistentClient`` or a Chroma server.

Collections are created in cosine space, so a hit's relevance score is its cosine
similarity and the same code serves both deployment modes.
"""

from __future__ import annotations

from pathlib import Path

import chromadb
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaClientSettings
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings


def build_chroma_client(
    *, path: Path | None = None, host: str | None = None, port: int | None = None
) -> ClientAPI:
    """Open the embedded store at ``path``, or connect to the server at ``host:port``.

    Example:
        >>> client = build_chroma_client(path=Path("./data/chroma"))

    """
    settings = ChromaClientSettings(anonymized_telemetry=False)
    if host is not None:
        if port is None:
            raise ValueError(f"a Chroma server needs a port as well as host={host!r}")
        return chromadb.HttpClient(host=host, port=port, settings=settings)
    if path is None:
        raise ValueError("give either path (embedded Chroma) or host and port (Chroma server)")
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def build_vector_store(client: ClientAPI, collection: str, embeddings: Embeddings) -> Chroma:
    """Wrap ``collection`` (created in cosine space if missing) as a LangChain vector store.

    Example:
        >>> store = build_vector_store(client, "streaming_rag", build_embeddings())
        >>> store.similarity_search_with_relevance_scores("vector search", k=2)

    """
    return Chroma(
        collection_name=collection,
        embedding_function=embeddings,
        client=client,
        collection_metadata={"hnsw:space": "cosine"},
    )
