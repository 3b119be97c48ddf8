"""The bundled sample knowledge base: 24 short documents about RAG and this service.

``serve`` indexes them into an empty store, so a fresh install has something to answer from.

The file has the shape of a ``POST /index`` body, so it doubles as an example request.
"""

from __future__ import annotations

import json
from importlib.resources import files

from chains.chunking import InputDocument

__all__ = ["load_sample_documents"]

def load_sample_documents() -> list[InputDocument]:
    """Read the bundled documents, validated as :class:`InputDocument`."""
    raw = json.loads(files(__name__).joinpath("sample_docs.json").read_text(encoding="utf-8"))
    return [InputDocument.model_validate(doc) for doc in raw["documents"]]
