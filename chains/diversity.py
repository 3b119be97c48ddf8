"""Diverse sources: at most a few per document, neighbouring chunks merged into one.

A long manual is loosely about everything, so its chunks can take every slot of an
answer's sources and the one page that answers is never shown (issue 40). Taken in rank
order, a hit becomes a source unless its document already has ``per_document`` of them;
a hit next to a chunk already chosen (``chunk_index`` one apart) joins that source
instead of taking a slot, its text appended after the overlap, so the prompt reads one
passage rather than two that repeat a hundred characters. When too few documents match,
the slots left are filled in rank order all the same: a document is capped only while
another can take its place.

A merged source keeps its first chunk's metadata, holds ``chunk_count`` chunks, is
scored by its best, and gets an id of its own (``<doc_id>:<first>-<last>``), so no
stored vector of a single chunk is taken for it (grounding embeds the merged text).
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.documents import Document

from chains.documents import assemble_text
from chains.retriever import annotate

CANDIDATES_PER_SOURCE = 10
"""A diversified search ranks this many candidates per source it returns."""
MAX_MERGED = 2
"""At most this many neighbouring chunks make one source. On the bench's three question
sets, 2 found the answering passage as often as 3 (git docs 66% against 68%, Python docs
76% and 48% both) with 12-15% fewer source tokens; 1 (no merging) lost 2 to 10 points."""


def diversify(hits: Sequence[Document], k: int, per_document: int) -> list[Document]:
    """The best ``k`` sources of ``hits`` with at most ``per_document`` per document.

    ``per_document`` 0 keeps the ranking: ``hits[:k]``. Cite keys follow the ranks.

    Example:
        >>> [d.id for d in diversify(hits, k=3, per_document=1)]  # manual:4, manual:5, faq:2, ...
        ['manual:4-5', 'faq:2', 'stash:0']

    """
    if per_document <= 0:
        return [annotate(hit, _best([hit]), rank) for rank, hit in enumerate(hits[:k])]
    groups: list[list[Document]] = []
    skipped: list[Document] = []
    for hit in hits:
        if len(groups) == k:
            break
        same = [g for g in groups if g[0].metadata.get("doc_id") == hit.metadata.get("doc_id")]
        beside = next((g for g in same if _neighbour(g, hit)), None)
        if beside is not None:
            beside.append(hit)
        elif len(same) < per_document:
            groups.append([hit])
        else:
            skipped.append(hit)
    groups += [[hit] for hit in skipped[: k - len(groups)]]
    return [annotate(_merged(group), _best(group), rank) for rank, group in enumerate(groups)]


def _neighbour(group: list[Document], hit: Document) -> bool:
    index = hit.metadata.get("chunk_index")
    if len(group) >= MAX_MERGED or not isinstance(index, int):
        return False
    return any(abs(c.metadata.get("chunk_index", -9) - index) == 1 for c in group)


def _best(group: list[Document]) -> float:
    return float(max(c.metadata.get("score", 0.0) for c in group))


def _merged(group: list[Document]) -> Document:
    """One chunk as it is; neighbours as one passage of the document, in its order."""
    if len(group) == 1:
        return group[0]
    ordered = sorted(group, key=lambda c: c.metadata["chunk_index"])
    start = ordered[0].metadata.get("start_index")
    text = assemble_text([(c.page_content, c.metadata) for c in ordered])
    text = text[start:] if isinstance(start, int) and start >= 0 else text
    first, last = ordered[0].metadata["chunk_index"], ordered[-1].metadata["chunk_index"]
    return Document(
        id=f"{ordered[0].metadata['doc_id']}:{first}-{last}",
        page_content=text,
        metadata={**ordered[0].metadata, "chunk_count": len(ordered)},
    )
