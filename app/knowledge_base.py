"""The bundled sample knowledge base: 24 short documents about RAG and this service.

The file has the shape of a ``POST /index`` body, so it doubles as an example request.
"""

from __future__ import annotations

import json
from importlib.resources import files

from chains.ingest import InputDocument

SAMPLE_DOCS_FILE = "sample_docs/sample_docs.json"


def load_sample_documents() -> list[InputDocument]:
    """Read the bundled documents, validated as :class:`InputDocument`."""
    raw = json.loads(files("app").joinpath(SAMPLE_DOCS_FILE).read_text(encoding="utf-8"))
    return [InputDocument.model_validate(doc) for doc in raw["documents"]]
