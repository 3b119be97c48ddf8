"""The Chroma vector store: embedded ``PersistentClient`` or a Chroma server.

Collections are created in cosine space, so a hit's relevance score is its cosine
similarity and the same code serves both deployment modes.

A collection records in its metadata which embedding model wrote its vectors and their
size (``embedding_model``, ``embedding_dims``). Opening it with another model is refused
(:class:`~chains.errors.EmbeddingMismatchError`): a question embedded by one model and
searched among another's vectors returns confident nonsense, or fails on the size.
It also records when it last changed (``changed_at``, nanoseconds), so that every process
sharing a Chroma server sees another's writes (the keyword index rebuilds on it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import chromadb
import httpx
from chromadb.api import ClientAPI
from chromadb.api.client import Client
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.config import Settings as ChromaClientSettings
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from chains.errors import EmbeddingMismatchError, StoreUnavailableError

MODEL_KEY, DIMS_KEY, CHANGED_KEY = "embedding_model", "embedding_dims", "changed_at"


def build_chroma_client(
    *, path: Path | None = None, host: str | None = None, port: int | None = None
) -> Client:
    """Open the embedded store at ``path``, or connect to the server at ``host:port``.

    Release it with :func:`close_chroma_client`, which also closes a server client's sockets.

    Raises:
        StoreUnavailableError: nothing answers at ``host:port``.

    Example:
        >>> client = build_chroma_client(path=Path("./data/chroma"))

    """
    settings = ChromaClientSettings(anonymized_telemetry=False)
    if host is not None:
        if port is None:
            raise ValueError(f"a Chroma server needs a port as well as host={host!r}")
        try:
            return cast(Client, chromadb.HttpClient(host=host, port=port, settings=settings))
        except ValueError as exc:  # chromadb's word for "could not connect"
            raise StoreUnavailableError(
                f"No Chroma server answers at {host}:{port} (RAG_CHROMA_HOST, "
                "RAG_CHROMA_PORT); start one with `streaming-rag chroma`."
            ) from exc
    if path is None:
        raise ValueError("give either path (embedded Chroma) or host and port (Chroma server)")
    path.mkdir(parents=True, exist_ok=True)
    return cast(Client, chromadb.PersistentClient(path=str(path), settings=settings))


def close_chroma_client(client: Client) -> None:
    """Release ``client``; when it was the last user of its system, close its connections.

    Chroma shares one system between the clients of one path, and gives each client of a
    server (and the admin client inside it) a system with its own ``httpx`` connection
    pool; it stops a system when its last user closes, but its HTTP API does not close
    that pool: the sockets would be left to the garbage collector. So they are closed here.
    """
    users = [client, getattr(client, "_admin_client", None)]  # each has its own system
    apis = [(user._identifier, user._server) for user in users if user is not None]
    client.close()
    for identifier, api in apis:
        session = getattr(api, "_session", None)
        if identifier not in SharedSystemClient._identifier_to_system and isinstance(
            session, httpx.Client
        ):
            session.close()


def build_vector_store(
    client: ClientAPI,
    collection: str,
    embeddings: Embeddings,
    *,
    model_name: str | None = None,
) -> Chroma:
    """Wrap ``collection`` (created in cosine space if missing) as a LangChain vector store.

    With ``model_name``, the collection's record of its embedding model is checked (and
    written, for a new collection or one from before records were kept).

    Raises:
        EmbeddingMismatchError: the collection was indexed with another model or size.

    Example:
        >>> store = build_vector_store(client, "streaming_rag", emb, model_name="all-MiniLM-L6-v2")
        >>> store.similarity_search_with_relevance_scores("vector search", k=2)

    """
    store = Chroma(
        collection_name=collection,
        embedding_function=embeddings,
        client=client,
        collection_metadata={"hnsw:space": "cosine"},
    )
    if model_name is not None:
        check_embedding_model(store, model_name, len(embeddings.embed_query("dimension probe")))
    return store


def check_embedding_model(store: Chroma, model_name: str, dims: int) -> None:
    """Refuse a collection whose vectors another model wrote; record ours if none is kept."""
    metadata = _metadata(store)
    recorded_model, recorded_dims = metadata.get(MODEL_KEY), metadata.get(DIMS_KEY)
    if recorded_model is None:  # new, or older than the record: its vectors tell the size
        peek = store._collection.peek(1)
        stored = peek["embeddings"]
        recorded_dims = len(stored[0]) if stored is not None and len(stored) else dims
        if recorded_dims == dims:
            _write_metadata(store, {**metadata, MODEL_KEY: model_name, DIMS_KEY: dims})
            return
        recorded_model = "an unrecorded model"
    if recorded_model != model_name or recorded_dims != dims:
        raise EmbeddingMismatchError(
            f"The collection {store._collection.name!r} was indexed with {recorded_model} "
            f"({recorded_dims} dimensions), but this service embeds with {model_name} "
            f"({dims} dimensions); its search results would be wrong. Set RAG_COLLECTION "
            "to a new collection and index your documents again, or switch back to "
            f"{recorded_model}."
        )


def mark_changed(store: Chroma) -> int:
    """Record that the collection changed now; returns the stamp written."""
    stamp = time.time_ns()
    _write_metadata(store, {**_metadata(store), CHANGED_KEY: stamp})
    return stamp


def changed_at(store: Chroma) -> int:
    """When the collection last changed (0: never, since stamps were kept)."""
    value = _metadata(store).get(CHANGED_KEY)
    return value if isinstance(value, int) else 0


def _metadata(store: Chroma) -> dict[str, Any]:
    """The collection's metadata as the server holds it now (another process may write)."""
    collection = store._client.get_collection(store._collection.name)
    return dict(collection.metadata or {})


def _write_metadata(store: Chroma, metadata: dict[str, Any]) -> None:
    """Replace the collection's metadata; Chroma refuses ``hnsw:`` keys after creation."""
    kept = {key: value for key, value in metadata.items() if not key.startswith("hnsw:")}
    store._collection.modify(metadata=kept)
