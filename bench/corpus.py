"""Deterministic benchmark corpora: real text for real embeddings, synthetic vectors for scale.

Documents are sentences of the bundled sample knowledge base, shuffled and varied with a
numbered subject, so every chunk is distinct English text of realistic token density.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import chromadb
import numpy as np
from chromadb.api import ClientAPI

from app.sample_docs import load_sample_documents
from chains.chunking import InputDocument, build_splitter
from chains.store import build_chroma_client

CHUNK_SIZE = 240
"""Characters per chunk in the benchmark corpus (about 50 tokens), chosen so 20k chunks
embed within the time budget on 2 cores; the report gives the rate at the default 800 too."""

SENTENCES = [
    s.strip()
    for doc in load_sample_documents()
    for s in re.split(r"(?<=[.!?])\s+", doc.content)
    if len(s.strip()) > 30
]


def make_documents(
    total_chunks: int, *, seed: int = 0, chunk_size: int = CHUNK_SIZE
) -> list[InputDocument]:
    """Documents of about ten chunks each, until they hold ``total_chunks`` chunks."""
    rnd = random.Random(seed)
    splitter = build_splitter(chunk_size, 0)
    documents: list[InputDocument] = []
    chunks = 0
    while chunks < total_chunks:
        number = len(documents)
        text = " ".join(
            f"In system {number}-{i}, " + rnd.choice(SENTENCES) for i in range(rnd.randint(8, 12))
        )
        pieces = splitter.split_text(text)
        if chunks + len(pieces) > total_chunks:  # trim the last document to land exactly
            text = " ".join(pieces[: total_chunks - chunks])
            pieces = splitter.split_text(text)
        documents.append(
            InputDocument(
                id=f"bench-{seed}-{number}",
                content=text,
                metadata={"source": f"bench/{number}.txt"},
            )
        )
        chunks += len(pieces)
    return documents


def questions(n: int, *, seed: int = 1) -> list[str]:
    """Distinct questions phrased from the corpus' sentences."""
    rnd = random.Random(seed)
    return [f"What does system {i} say: {rnd.choice(SENTENCES)[:80]}?" for i in range(n)]


def copy_collection(
    source: chromadb.Collection | None,
    target: Path | ClientAPI,
    name: str,
    count: int,
    *,
    synthetic: int = 0,
) -> chromadb.Collection:
    """A new collection with ``count`` chunks of ``source`` plus random unit vectors.

    ``target`` is an embedded store's directory, or a client (a Chroma server's).
    """
    client = build_chroma_client(path=target) if isinstance(target, Path) else target
    target = client.get_or_create_collection(name, metadata={"hnsw:space": "cosine"})
    batch = 5000
    for offset in range(0, count, batch):
        assert source is not None, "real chunks need a source collection"
        got = source.get(
            limit=min(batch, count - offset),
            offset=offset,
            include=["embeddings", "documents", "metadatas"],
        )
        target.add(
            ids=got["ids"],
            embeddings=got["embeddings"],
            documents=got["documents"],
            metadatas=got["metadatas"],
        )
    rng = np.random.default_rng(7)
    for offset in range(0, synthetic, batch):
        n = min(batch, synthetic - offset)
        vectors = rng.standard_normal((n, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"synthetic-{offset + i}:0" for i in range(n)]
        target.add(
            ids=ids,
            embeddings=vectors,
            documents=["(synthetic vector, no text)"] * n,
            metadatas=[
                {"doc_id": i.split(":")[0], "chunk_index": 0, "source": "synthetic"} for i in ids
            ],
        )
    return target
