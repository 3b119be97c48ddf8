"""Question embeddings under load: asked together, embedded together; asked again, not at all.

A search embeds its question in a worker thread. When questions arrive while one is being
embedded, they wait for it and then go to the model as one batch (a group commit: nothing
waits when the model is idle, so a lone question pays no gathering window). Recent
questions keep their vectors, so a retry, a page reload or a second knowledge base asked
the same thing does not run the model again. Only for a model whose query and document
vectors are the same function (the bundled one): the batch goes through
``embed_documents``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings

RECENT_QUESTIONS = 512
"""Question vectors kept (1.5 kB each at 384 dimensions)."""
MAX_BATCH = 16


@dataclass
class _Question:
    text: str
    vector: list[float] | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class _Queue:
    waiting: list[_Question] = field(default_factory=list)
    busy: bool = False  # a thread is running the model for a batch


class BatchedQueryEmbeddings(Embeddings):
    """Wrap ``model``: documents pass through; questions are batched and remembered.

    Example:
        >>> embeddings = BatchedQueryEmbeddings(build_embeddings("local"))
        >>> embeddings.embed_query("what is TTFT?") == embeddings.embed_query("what is TTFT?")
        True

    """

    def __init__(
        self, model: Embeddings, *, recent: int = RECENT_QUESTIONS, max_batch: int = MAX_BATCH
    ) -> None:
        self.model = model
        self.max_batch = max_batch
        self._recent: OrderedDict[str, list[float]] = OrderedDict()
        self._size = recent
        self._queue = _Queue()
        self._turn = threading.Condition()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """The wrapped model's document embeddings, unchanged."""
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """``text``'s vector: remembered, or embedded in the next batch the model runs."""
        with self._turn:
            if text in self._recent:
                self._recent.move_to_end(text)
                return list(self._recent[text])
            question = _Question(text)
            self._queue.waiting.append(question)
            while not question.done:
                if self._queue.busy:
                    self._turn.wait()
                    continue
                batch = self._take_batch()
                self._turn.release()
                try:
                    self._run(batch)
                finally:
                    self._turn.acquire()
                    self._queue.busy = False
                    self._turn.notify_all()
        if question.error is not None:
            raise question.error
        assert question.vector is not None
        return list(question.vector)

    def _take_batch(self) -> list[_Question]:
        """Called holding the lock: the oldest waiting questions become this thread's batch."""
        batch = self._queue.waiting[: self.max_batch]
        del self._queue.waiting[: self.max_batch]
        self._queue.busy = True
        return batch

    def _run(self, batch: list[_Question]) -> None:
        texts = list(dict.fromkeys(question.text for question in batch))
        try:
            vectors = dict(zip(texts, self.model.embed_documents(texts), strict=True))
        except Exception as exc:  # each question of the batch reports the model's failure
            for question in batch:
                question.error, question.done = exc, True
            return
        with self._turn:
            for question in batch:
                question.vector, question.done = vectors[question.text], True
            self._recent.update(vectors)
            while len(self._recent) > self._size:
                self._recent.popitem(last=False)
