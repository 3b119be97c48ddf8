"""Live grounding: each sentence of the answer scored against its sources as it is written.

The :class:`~chains.sentences.SentenceSplitter` cuts the streamed answer into
sentences; a :class:`LiveGrounding` embeds each finished sentence, without its citation brackets,
with the service's own embedding model, in batches on a worker task beside generation,
and compares it with the answer's sources by cosine similarity: the best source above
the threshold supports the sentence. Where the sentence cites keys, the cited sources
themselves must support it (``citation_supported``), so a citation to the wrong source
is flagged like an invalid one.

The threshold is the quality bench's (section 10): it calibrates, on the sample
knowledge base, where a sentence's own chunk separates from every other chunk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from chains.events import GroundingEvent, GroundingSummary, Source
from chains.prompt import NO_ANSWER
from chains.sentences import Sentence, SentenceSplitter, cited_keys, claim

MEASURED_SUPPORT_SCORE = 0.454
"""Cosine similarity (all-MiniLM-L6-v2) from which a source supports a sentence: the
threshold bench section 10 calibrated on the sample knowledge base (a chunk's own
sentences against every other chunk, best true minus false positive rate)."""

MIN_CLAIM_WORDS = 3
"""Shorter sentences ("Yes.", a heading) claim too little to score; none is sent."""

_log = logging.getLogger(__name__)


def unit_rows(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    """Each vector scaled to length 1, so a matrix product gives cosine similarities."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1, norms)


StoredVectors = Callable[[str, Sequence[str]], Mapping[str, Sequence[float]]]
"""The vectors a knowledge base already holds for some chunk ids (``KnowledgeBases``)."""


@dataclass(frozen=True)
class GroundingCheck:
    """How answers are checked: the embedding model, the threshold, the time bound.

    ``stored`` reads the sources' vectors from the store, which spares embedding them
    again (bench section 18: that was half the check's CPU); a source it lacks is
    embedded.
    """

    embeddings: Embeddings
    min_score: float = MEASURED_SUPPORT_SCORE
    timeout_s: float = 30.0
    stored: StoredVectors | None = None

    def start(self, sources: Sequence[Source], kb: str, wake: Callable[[], None]) -> LiveGrounding:
        """Check one answer written from ``sources`` of ``kb``; ``wake`` when results wait."""
        return LiveGrounding(self, sources, kb, wake)


class LiveGrounding:
    """One answer's check: feed it tokens, take its events, finish it for the summary.

    Scoring runs on its own task, a batch of every sentence finished since the last
    one, so a token is never held for it; the embedding calls run in a worker thread.
    """

    def __init__(
        self,
        check: GroundingCheck,
        sources: Sequence[Source],
        kb: str,
        wake: Callable[[], None],
    ) -> None:
        self._check, self._sources, self._kb, self._wake = check, list(sources), kb, wake
        self._rank_of = {source.cite: i for i, source in enumerate(self._sources)}
        self._splitter = SentenceSplitter()
        self._pending: list[tuple[Sentence, str]] = []  # each with its claim
        self._results: list[GroundingEvent] = []
        self._taken = 0  # how many of the results take() has handed out
        self._more = asyncio.Event()
        self._closed = False
        self._complete = True
        self._task = asyncio.create_task(self._work())

    def feed(self, token: str) -> None:
        """Add one token of the answer."""
        self._queue(self._splitter.feed(token))

    def take(self) -> list[GroundingEvent]:
        """The events scored since the last call, in sentence order."""
        ready = self._results[self._taken :]
        self._taken = len(self._results)
        return ready

    async def finish(self) -> list[GroundingEvent]:
        """Score the last sentence, wait for the rest (at most the time bound)."""
        self._queue(self._splitter.flush())
        self._closed = True
        self._more.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self._check.timeout_s)
        except TimeoutError:
            _log.warning("grounding: not finished within %s s", self._check.timeout_s)
            self._complete = False
            await self.aclose()
        return self.take()

    def stop(self) -> asyncio.Task[None]:
        """Cancel scoring now; the worker task, for the caller to await with its others."""
        self._task.cancel()
        return self._task

    async def aclose(self) -> None:
        """Stop scoring (the answer was revised, or ran out of time) and wait for it."""
        # gather: the worker's CancelledError is returned, a cancel of our own caller is not
        await asyncio.gather(self.stop(), return_exceptions=True)

    def summary(self) -> GroundingSummary:
        """What ``done`` reports: how many sentences were checked, and which were not supported."""
        results = self._results
        supported = sum(r.supported for r in results)
        return GroundingSummary(
            sentences=len(results),
            supported=supported,
            supported_share=round(supported / len(results), 3) if results else None,
            unsupported=[[r.start, r.end] for r in results if not r.supported],
            wrong_citations=sum(r.citation_supported is False for r in results),
            complete=self._complete,
        )

    def _queue(self, sentences: list[Sentence]) -> None:
        claimed = [(s, claim(s.text)) for s in sentences if not s.code]
        scored = [
            (s, said)
            for s, said in claimed
            if len(said.split()) >= MIN_CLAIM_WORDS and said != NO_ANSWER
        ]
        if scored:
            self._pending.extend(scored)
            self._more.set()

    async def _work(self) -> None:
        try:
            vectors = unit_rows(await self._source_vectors())
            while True:
                await self._more.wait()
                self._more.clear()
                batch, self._pending = self._pending, []
                if batch:
                    claims = await self._check.embeddings.aembed_documents(
                        [said for _, said in batch]
                    )
                    similarity = unit_rows(claims) @ vectors.T
                    for (sentence, _), row in zip(batch, similarity, strict=True):
                        self._score(sentence, row)
                    self._wake()
                if self._closed and not self._pending:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # the answer goes on without its check; done says it is partial
            _log.exception("grounding: the check failed")
            self._complete = False

    async def _source_vectors(self) -> list[Sequence[float]]:
        """Each source's vector: the store's when it has it, else embedded now.

        A chunk stored with its document's header (:mod:`chains.chunk_context`) was
        embedded with it, and a merged source (:mod:`chains.diversity`) was never stored
        whole: both are embedded as the reader sees them, so a sentence is checked against
        the text shown, not against a title.
        """
        stored: Mapping[str, Sequence[float]] = {}
        ids = [s.id for s in self._sources if s.id is not None and "context" not in s.metadata]
        if self._check.stored is not None and ids:
            try:
                stored = await asyncio.to_thread(self._check.stored, self._kb, ids)
            except Exception:  # e.g. the chunk was replaced meanwhile: embed instead
                _log.warning("grounding: stored vectors unreadable, embedding", exc_info=True)
        missing = [s.content for s in self._sources if s.id not in stored]
        embedded = iter(await self._check.embeddings.aembed_documents(missing) if missing else [])
        return [
            stored[s.id] if s.id is not None and s.id in stored else next(embedded)
            for s in self._sources
        ]

    def _score(self, sentence: Sentence, similarity: np.ndarray) -> None:
        best = int(similarity.argmax())
        cited = list(dict.fromkeys(cited_keys(sentence.text)))
        threshold = self._check.min_score
        event = GroundingEvent(
            index=len(self._results),
            start=sentence.start,
            end=sentence.end,
            cite=self._sources[best].cite,
            source_id=self._sources[best].id,
            score=round(float(similarity[best]), 3),
            supported=bool(similarity[best] >= threshold),
            cited=cited,
            citation_supported=all(
                k in self._rank_of and similarity[self._rank_of[k]] >= threshold for k in cited
            )
            if cited
            else None,
        )
        self._results.append(event)
