"""Question sets made from a knowledge base itself, without a model.

- ``headings``: each Markdown heading (and each document title) becomes a question,
  with the chunk that holds it as gold.
- ``sentences``: the first full sentence of a paragraph becomes the question for the
  sentence after it, which names the gold chunk.

The questions reuse the documents' own words and the gold text stays in the index, so
absolute scores come out higher than on questions people ask: a generated set is for
comparing two versions of a configuration, not for quoting a score.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from chains.sentences import SentenceSplitter

Mode = Literal["headings", "sentences"]
MIN_WORDS = 5
"""A sentence shorter than this is too vague to ask."""

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _headings(doc_id: str, title: str | None, text: str) -> Iterable[dict[str, Any]]:
    if title:
        yield {"question": title, "gold": [{"doc_id": doc_id}]}
    for match in _HEADING.finditer(text):
        heading = match.group(1).strip()
        if heading and heading != title:
            yield {"question": heading, "gold": [{"doc_id": doc_id, "span": heading}]}


def _sentences(doc_id: str, text: str) -> Iterable[dict[str, Any]]:
    for paragraph in re.split(r"\n\s*\n", text):
        splitter = SentenceSplitter()
        found = [s.text for s in [*splitter.feed(paragraph), *splitter.flush()] if not s.code]
        found = [s for s in found if len(s.split()) >= MIN_WORDS and not s.startswith("#")]
        if len(found) >= 2:
            yield {"question": found[0], "gold": [{"doc_id": doc_id, "span": found[1]}]}


def generate(
    documents: Iterable[dict[str, Any]], mode: Mode, *, limit: int
) -> list[dict[str, Any]]:
    """At most ``limit`` questions, spread over the documents (``id``, ``title``, ``text``).

    Taken round-robin, one per document in turn, so a long document does not fill the set.
    """
    per_document = []
    for doc in documents:
        if mode == "headings":
            made = list(_headings(doc["id"], doc.get("title"), doc["text"]))
        else:
            made = list(_sentences(doc["id"], doc["text"]))
        per_document.append(made)
    questions: list[dict[str, Any]] = []
    depth = 0
    while len(questions) < limit and any(depth < len(made) for made in per_document):
        for made in per_document:
            if depth < len(made) and len(questions) < limit:
                questions.append(made[depth])
        depth += 1
    seen: dict[str, int] = {}
    out = []
    for q in questions:
        base = q["gold"][0]["doc_id"]
        seen[base] = seen.get(base, 0) + 1
        out.append({"id": f"{base}-{mode}-{seen[base]}", **q})
    return out
