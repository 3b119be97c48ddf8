"""The support judge of sections 10 and 18: is a sentence close enough to its source?

A sentence is supported by a chunk when their cosine similarity, by the project's own
embeddings (all-MiniLM-L6-v2), clears a threshold. The threshold is calibrated on the
knowledge base itself, in each run: a sentence of a chunk against its own chunk is a
positive pair, against every other chunk a negative one, and the threshold maximises true
positives minus false positives (Youden's J).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from app.evaluation.metrics import is_decline
from chains.grounding import unit_rows
from chains.sentences import cited_keys, claim


def sentences(answer: str) -> list[str]:
    """Sentences of an answer; a citation written after the full stop stays with it."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*])", answer.strip())
    return [p.strip() for p in parts if p.strip()]


@dataclass
class Calibration:
    threshold: float
    true_positive_rate: float
    false_positive_rate: float
    positives: int
    negatives: int


def calibrate(embeddings: Embeddings, chunks: list[str]) -> Calibration:
    """The similarity threshold that best separates a chunk's own sentences from others'."""
    chunk_vectors = unit_rows(embeddings.embed_documents(chunks))
    owned = [(i, s) for i, chunk in enumerate(chunks) for s in sentences(chunk) if len(s) > 20]
    sentence_vectors = unit_rows(embeddings.embed_documents([s for _, s in owned]))
    similarity = sentence_vectors @ chunk_vectors.T
    own = np.zeros_like(similarity, dtype=bool)
    own[np.arange(len(owned)), [i for i, _ in owned]] = True
    positives, negatives = similarity[own], similarity[~own]
    best = max(
        np.unique(np.round(similarity, 3)),
        key=lambda t: float((positives >= t).mean() - (negatives >= t).mean()),
    )
    return Calibration(
        threshold=float(best),
        true_positive_rate=float((positives >= best).mean()),
        false_positive_rate=float((negatives >= best).mean()),
        positives=int(positives.size),
        negatives=int(negatives.size),
    )


@dataclass
class Score:
    """What one configuration's answers earned."""

    answers: list[dict[str, Any]] = field(default_factory=list)
    with_citation: int = 0
    with_supported: int = 0
    expected_supported: int = 0
    sentences: int = 0
    supported_sentences: int = 0
    declined: int = 0

    def row(self, answerable: int, absent: int) -> list[str]:
        """The table row: counts over their totals."""
        share = self.supported_sentences / self.sentences if self.sentences else 0.0
        return [
            f"{self.with_citation}/{answerable}",
            f"{self.with_supported}/{answerable}",
            f"{self.expected_supported}/{answerable}",
            f"{share:.0%} of {self.sentences}",
            f"{self.declined}/{absent}",
        ]


def score(embeddings: Embeddings, results: list[dict[str, Any]], threshold: float) -> Score:
    """Score every answer: supported citations, supported sentences, declined absences."""
    out = Score(answers=results)
    for result in results:
        expected, answer, sources = result["expected"], result["answer"], result["sources"]
        if expected is None:
            out.declined += is_decline(answer)
            continue
        parts = [s for s in sentences(answer) if len(claim(s).split()) >= 3]
        if not parts:
            continue
        by_cite = {s["cite"]: s for s in sources}
        claims = unit_rows(embeddings.embed_documents([claim(s) for s in parts]))
        chunks = unit_rows(embeddings.embed_documents([s["content"] for s in sources]))
        similarity = claims @ chunks.T
        index = {s["cite"]: i for i, s in enumerate(sources)}
        supported_docs: set[str] = set()
        cited = False
        for row, sentence in enumerate(parts):
            for key in cited_keys(sentence):
                cited = True
                if key in by_cite and similarity[row, index[key]] >= threshold:
                    supported_docs.add(by_cite[key]["doc_id"])
        out.with_citation += cited
        out.with_supported += bool(supported_docs)
        out.expected_supported += expected in supported_docs
        out.sentences += len(parts)
        out.supported_sentences += int((similarity.max(axis=1) >= threshold).sum())
    return out
