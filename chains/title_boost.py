"""Title boost: rank a chunk by its own similarity and by its document's card's.

A reference page's chunks each carry the page's title in their header
(:mod:`chains.chunk_context`), but inside a chunk of 800 characters the title is a few
words among many, and a long manual's chunk that happens to share the question's words
still wins. Onyx embeds titles apart and blends the two scores; so do we: each
document's **card**, its title and summary line, is embedded once, and a hit's score is
``(1 - w) * chunk similarity + w * card similarity``, ``w`` being ``RAG_TITLE_WEIGHT``.

The cards are read from the chunks' ``context`` metadata at the first search after the
collection changed (its ``changed_at`` stamp, as the keyword index reads it), and a
card already embedded is not embedded again. A
collection indexed without headers has no cards, and its scores stay the chunks' own
(``streaming-rag ingest --reindex`` adds them).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from langchain_chroma import Chroma
from langchain_core.documents import Document

from chains.chunk_context import document_card
from chains.events import cite_key
from chains.store import changed_at
from chains.versions import doc_id_of

MEASURED_TITLE_WEIGHT = 0.2
"""On 56 questions about Debian's git documentation, blending the card in at 0.2 put the
answering page among the four sources for 79% of them against 66% without (0.35: 73%,
0.5: 75%); on the Python docs it changed nothing (98% and 100%, plain and API questions;
bench section 22)."""


class DocumentCards:
    """Each document's card vector, kept in step with the collection.

    The first search after the collection changed reads the cards again (a metadata
    scan, ~150 ms at 4,000 chunks) and embeds only the new ones; the first search of a
    process embeds them all. Done in the search itself, with no thread: a thread still
    reading Chroma as a process exits aborts it.
    """

    def __init__(self, store: Chroma) -> None:
        self.store = store
        self._stamp: int | None = None
        self._cards: tuple[dict[str, int], np.ndarray] = ({}, np.empty((0, 0), np.float32))
        self._embedded: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def similarity(self, query: Sequence[float]) -> dict[str, float]:
        """Each document's card's cosine similarity to the (unit) ``query`` vector."""
        self.refresh()
        docs, vectors = self._cards
        if not docs:
            return {}
        scores = vectors @ np.asarray(query, dtype=np.float32)
        return {doc_id: float(scores[row]) for doc_id, row in docs.items()}

    def refresh(self) -> None:
        """Read the cards of the collection as it is now, if it changed; embed the new ones."""
        with self._lock:
            stamp = changed_at(self.store)
            if stamp == self._stamp:
                return
            found = self.store._collection.get(include=["metadatas"])
            cards: dict[str, str] = {}
            for chunk_id, metadata in zip(found["ids"], found["metadatas"] or [], strict=True):
                context = (metadata or {}).get("context")
                if isinstance(context, str) and context:
                    cards.setdefault(doc_id_of(chunk_id, metadata), document_card(context))
            new = sorted(set(cards.values()) - set(self._embedded))
            if new:
                vectors = self.store.embeddings.embed_documents(new)  # type: ignore[union-attr]
                self._embedded.update(zip(new, np.asarray(vectors, np.float32), strict=True))
            rows = [self._embedded[card] for card in cards.values()]
            self._cards = (
                {doc_id: row for row, doc_id in enumerate(cards)},
                np.stack(rows) if rows else np.empty((0, 0), np.float32),
            )
            self._stamp = stamp


def boosted(hits: list[Document], cards: dict[str, float], weight: float) -> list[Document]:
    """``hits`` re-scored with their document's card similarity, best first, re-cited.

    With no cards at all (a collection indexed before headers) the hits stay as they
    are; a hit whose document has no card (indexed without a header) keeps its own score.
    """
    if not cards:
        return hits
    for hit in hits:
        card = cards.get(str(hit.metadata.get("doc_id")), hit.metadata["score"])
        blended = (1 - weight) * hit.metadata["score"] + weight * card
        hit.metadata["score"] = round(min(1.0, max(0.0, blended)), 4)
    ranked = sorted(hits, key=lambda hit: -hit.metadata["score"])
    for rank, hit in enumerate(ranked):
        hit.metadata["cite"] = cite_key(rank)
    return ranked
