import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from chains.query_batching import BatchedQueryEmbeddings


class CountingModel:
    """The real model, with a record of each batch it ran; its first batch can be held."""

    def __init__(self, model, hold_first=False):
        self.model = model
        self.batches: list[list[str]] = []
        self.running = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def embed_documents(self, texts):
        self.batches.append(list(texts))
        self.running.set()
        self.release.wait(timeout=30)
        return self.model.embed_documents(texts)


QUESTIONS = [f"What does setting number {n} change?" for n in range(5)]


def test_questions_asked_while_the_model_is_busy_go_to_it_in_one_batch(embeddings):
    model = CountingModel(embeddings.model, hold_first=True)
    batched = BatchedQueryEmbeddings(model)
    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(batched.embed_query, QUESTIONS[0])
        assert model.running.wait(timeout=30)  # the model is busy with the first question
        rest = [pool.submit(batched.embed_query, q) for q in QUESTIONS[1:]]
        deadline = time.monotonic() + 30
        while len(batched._queue.waiting) < 4 and time.monotonic() < deadline:
            time.sleep(0.001)  # until all four are queued behind it
        model.release.set()
        vectors = [first.result(timeout=30)] + [f.result(timeout=30) for f in rest]

    assert model.batches == [QUESTIONS[:1], QUESTIONS[1:]]
    alone = [embeddings.model.embed_query(q) for q in QUESTIONS]
    assert np.allclose(vectors, alone, atol=1e-5)  # each got its own question's vector


def test_a_question_asked_again_is_not_embedded_again(embeddings):
    model = CountingModel(embeddings.model)
    batched = BatchedQueryEmbeddings(model, recent=2)
    first = batched.embed_query(QUESTIONS[0])
    first.append(0.0)  # a caller changing its copy does not change the remembered one
    assert batched.embed_query(QUESTIONS[0]) == first[:-1]
    batched.embed_query(QUESTIONS[1])
    batched.embed_query(QUESTIONS[2])  # the oldest of three falls out of a memory of two
    batched.embed_query(QUESTIONS[0])
    assert model.batches == [[QUESTIONS[0]], [QUESTIONS[1]], [QUESTIONS[2]], [QUESTIONS[0]]]


def test_a_model_failure_is_raised_to_the_question_and_not_remembered(embeddings):
    class Broken:
        calls = 0

        def embed_documents(self, texts):
            Broken.calls += 1
            if Broken.calls == 1:
                raise RuntimeError("the model ran out of memory")
            return embeddings.model.embed_documents(texts)

    batched = BatchedQueryEmbeddings(Broken())
    with pytest.raises(RuntimeError, match="out of memory"):
        batched.embed_query(QUESTIONS[0])
    assert len(batched.embed_query(QUESTIONS[0])) == 384  # asked again: embedded this time
