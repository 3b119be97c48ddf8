import math
import os

from chains.embeddings import LOCAL_EMBEDDING_DIMS


def test_local_embeddings_are_384_dim_unit_vectors_offline(embeddings):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    vector = embeddings.embed_query("What is retrieval-augmented generation?")
    assert len(vector) == LOCAL_EMBEDDING_DIMS == 384
    assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-4)


def test_local_embeddings_place_related_texts_closer_than_unrelated(embeddings):
    query, related, unrelated = embeddings.embed_documents(
        [
            "How fast does the first token arrive?",
            "Time to first token measures the delay before generation starts.",
            "Sourdough bread needs a long, cool fermentation.",
        ]
    )

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert dot(query, related) > dot(query, unrelated) + 0.2
