import numpy as np
import pytest

from chains.embeddings import build_embeddings, local_model_path
from chains.onnx_embeddings import (
    BATCH_LIMIT,
    BATCH_TOKENS,
    EXPORT_FORMAT,
    EmbeddingCacheError,
    OnnxEmbeddings,
    exported_model,
    load_onnx_embeddings,
    token_batches,
)

TEXTS = [
    "hi",
    "How do I put my changes aside for a while?",
    "Time to first token measures the delay before generation starts. " * 3,
    "a chunk longer than the model's 256 tokens, which both backends cut " * 40,
]


@pytest.fixture(scope="module")
def torch_embeddings():
    return build_embeddings("local", backend="torch")


def test_onnx_backend_gives_the_vectors_pytorch_gives(embeddings, torch_embeddings):
    assert isinstance(embeddings.model, OnnxEmbeddings)  # the default
    onnx = np.array(embeddings.embed_documents(TEXTS))
    torch = np.array(torch_embeddings.embed_documents(TEXTS))
    assert onnx.shape == torch.shape == (4, 384)
    assert np.all((onnx * torch).sum(axis=1) > 0.99999)  # a collection indexed by either
    query = np.dot(embeddings.embed_query(TEXTS[1]), torch_embeddings.embed_query(TEXTS[1]))
    assert query > 0.99999


def test_a_batch_comes_back_in_the_order_it_was_given(embeddings):
    one_by_one = [embeddings.embed_query(text) for text in reversed(TEXTS)]
    together = embeddings.embed_documents(list(reversed(TEXTS)))  # sorted by length inside
    assert np.allclose(together, one_by_one, atol=1e-5)


def test_texts_share_a_run_by_token_count_while_their_padding_fits():
    lengths = [200, 12, 250, 15, 10, 190]  # two chunks, three questions, one long chunk
    batches = token_batches(lengths)
    assert batches == [[4, 1, 3], [5, 0], [2]]  # shortest first; 3 x 250 tokens would not fit
    assert all(len(b) * max(lengths[i] for i in b) <= BATCH_TOKENS for b in batches)
    many = token_batches([5] * (BATCH_LIMIT + 8))
    assert [len(b) for b in many] == [BATCH_LIMIT, 8]


def test_export_is_reused_until_it_is_stale_or_unreadable(tmp_path):
    weights = local_model_path()
    model = exported_model(weights, tmp_path)
    built = model.stat().st_mtime_ns
    assert exported_model(weights, tmp_path) == model
    assert model.stat().st_mtime_ns == built  # reused, not exported again

    model.write_bytes(b"not an ONNX graph")  # a cut download, a full disk
    vector = load_onnx_embeddings(weights, tmp_path).embed_query("still answers")
    assert len(vector) == 384 and model.stat().st_size > 50_000_000

    marker = model.with_name("source.json")
    older = f'"format": {EXPORT_FORMAT - 1}'  # an export an earlier release built
    marker.write_text(marker.read_text().replace(f'"format": {EXPORT_FORMAT}', older))
    rebuilt = model.stat().st_mtime_ns
    assert exported_model(weights, tmp_path) == model
    assert model.stat().st_mtime_ns != rebuilt  # an export from another format is redone


def test_an_unwritable_cache_is_an_error_that_names_the_setting(tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache should be")
    with pytest.raises(EmbeddingCacheError, match="RAG_EMBEDDINGS_CACHE"):
        load_onnx_embeddings(local_model_path(), blocked)
