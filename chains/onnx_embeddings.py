"""The bundled all-MiniLM-L6-v2 through ONNX Runtime: the same weights, the same vectors.

PyTorch's OpenMP threads spin and collapse when another process (the model engine) holds
the cores; ONNX Runtime with spinning off shares them. sentence-transformers' own ONNX
backend needs ``optimum-onnx``, which pins transformers below 4.58 (sentence-transformers
6 needs 5), so the model is exported here with ``torch.onnx`` once per weights file and
run with ``onnxruntime`` and ``tokenizers``: mean pooling and L2 normalisation are inside
the exported graph, so a vector is what sentence-transformers gives (cosine 1 - 1e-6).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from langchain_core.embeddings import Embeddings
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
from tokenizers import Tokenizer

EXPORT_FORMAT = 2
"""Bump when the exported graph changes, so every cached export is rebuilt (2: eager attention)."""
MAX_TOKENS = 256
"""The model's ``max_seq_length``: longer texts are cut there, as sentence-transformers does."""
BATCH_TOKENS = 512
"""Padded tokens per ONNX run: texts sorted by token count share a run while it holds them.

800-character chunks (~200 tokens) run two at a time, questions up to :data:`BATCH_LIMIT`.
Measured against 256, 1,024 and 32 texts a run: 50 chunks/s alone and 26 beside the busy
engine, against 46 / 28, 52 / 24 and 45 / 22; a long batch's activations leave the cache.
"""
BATCH_LIMIT = 32
"""Texts per ONNX run at most, however short."""


def load_onnx_embeddings(
    weights: Path, cache: Path, *, threads: int | None = None
) -> OnnxEmbeddings:
    """Open the cached export of ``weights``; one that ONNX Runtime cannot read is rebuilt.

    Raises:
        EmbeddingCacheError: the export cannot be written under ``cache``.

    """
    try:
        try:
            model = exported_model(weights, cache)
            return OnnxEmbeddings(model, weights, threads=threads)
        except (ort_errors.Fail, ort_errors.InvalidProtobuf, ort_errors.InvalidGraph):
            model = exported_model(weights, cache, rebuild=True)
            return OnnxEmbeddings(model, weights, threads=threads)
    except OSError as exc:
        raise EmbeddingCacheError(
            f"The embedding model's ONNX export cannot be written under {cache} ({exc}); "
            "set RAG_EMBEDDINGS_CACHE to a writable directory, or RAG_EMBEDDINGS_BACKEND=torch."
        ) from exc


class EmbeddingCacheError(RuntimeError):
    """The ONNX export is missing and cannot be built where the settings say."""


def exported_model(weights: Path, cache: Path, *, rebuild: bool = False) -> Path:
    """Return the ONNX export of the model in ``weights``, exporting it when missing or stale.

    The export lives under ``cache`` in a folder named by the weights' digest, beside a
    ``source.json`` that says what it was built from; a file that does not match is rebuilt.
    """
    digest = _digest(weights / "model.safetensors")
    source = {"format": EXPORT_FORMAT, "weights_sha256": digest, "max_tokens": MAX_TOKENS}
    folder = cache / f"minilm-onnx-{digest[:16]}"
    model, marker = folder / "model.onnx", folder / "source.json"
    if not rebuild and model.is_file() and marker.is_file() and _reads(marker) == source:
        return model
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"model.onnx.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        _export(weights, partial)
        os.replace(partial, model)  # two processes exporting at once each write a whole file
    finally:
        partial.unlink(missing_ok=True)
    marker.write_text(json.dumps(source, indent=2))
    return model


class OnnxEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 through an ONNX Runtime session; vectors are L2-normalised.

    ``threads`` is the session's intra-op thread count; ``spin=False`` makes an idle thread
    sleep instead of busy-waiting, so the engine keeps the cores it is generating on.

    Example:
        >>> weights = local_model_path()
        >>> emb = OnnxEmbeddings(exported_model(weights, DEFAULT_CACHE), weights)
        >>> len(emb.embed_query("what is retrieval-augmented generation?"))
        384

    """

    def __init__(
        self, model: Path, weights: Path, *, threads: int | None = None, spin: bool = False
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's own choice
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(weights / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # each run pads to its own longest text

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts`` in runs of similar token counts; vectors come back in their order."""
        tokens = [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]
        vectors: list[Any] = [None] * len(texts)
        for batch in token_batches([len(ids) for ids in tokens]):
            for index, vector in zip(batch, self._run([tokens[i] for i in batch]), strict=True):
                vectors[index] = vector.tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """Embed one question."""
        return list(self._run([self.tokenizer.encode(text).ids])[0].tolist())

    def _run(self, tokens: Sequence[Sequence[int]]) -> np.ndarray:
        ids = np.zeros((len(tokens), max(map(len, tokens))), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros_like(ids)
        for row, text in enumerate(tokens):
            ids[row, : len(text)] = text
            mask[row, : len(text)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return np.asarray(self.session.run(None, feed)[0])


def token_batches(lengths: Sequence[int]) -> list[list[int]]:
    """Group text indexes into ONNX runs: by token count, each within :data:`BATCH_TOKENS`.

    Sorting by tokens rather than characters (as sentence-transformers does) keeps a run
    from padding a prose chunk to the length of a code chunk of the same characters.
    """
    batches: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        batch = batches[-1] if batches else []
        # sorted: this text is the run's longest, so the run pads every text to its length
        if batch and len(batch) < BATCH_LIMIT and (len(batch) + 1) * lengths[index] <= BATCH_TOKENS:
            batch.append(index)
        else:
            batches.append([index])
    return batches


def _export(weights: Path, target: Path) -> None:
    """Trace the model with mean pooling and normalisation into one ONNX graph."""
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # Eager attention: the SDPA path exports a NaN guard (IsNaN + Where on every
            # score) that took 30% of a batch in ONNX Runtime, measured; same vectors.
            self.bert = AutoModel.from_pretrained(weights, attn_implementation="eager").eval()

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    sample = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    # The TorchScript exporter, deprecated since torch 2.9: the torch.export one (which also
    # needs onnxscript) gave vectors at cosine 0.1 from these on torch 2.13, measured. Its
    # tracer warns of shape checks it freezes; they hold for any batch (tested), so quiet.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled().eval(),
            (sample, sample, torch.zeros_like(sample)),
            str(target),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _reads(marker: Path) -> Any:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


if __name__ == "__main__":  # `make install` exports once, so the first start does not
    from chains.embeddings import DEFAULT_CACHE, local_model_path

    print(exported_model(local_model_path(), DEFAULT_CACHE))
