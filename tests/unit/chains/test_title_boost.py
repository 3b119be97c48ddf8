"""Title boost: a hit's score blends in its document card's similarity, kept in step."""

import pytest

from chains.chunking import InputDocument, build_splitter
from chains.ingest import Ingestor
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store

# The page about putting work aside says so only in its title and first line; its
# options chunk, like the overview's, is about changes in general.
PAGE = InputDocument(
    id="git-shelve",
    content=(
        "# git-shelve(1)\n\ngit-shelve - Put unfinished work aside for a while\n\n"
        "## Options\n\n" + "The --keep flag leaves the index as it is after saving. " * 12
    ),
)
OVERVIEW = InputDocument(
    id="overview",
    content="# Working with changes\n\n"
    + "You can keep changes, save the index and flag what is saved for later work. " * 12,
)
QUESTION = "How do I put my unfinished work aside for a while?"


@pytest.fixture
def store(tmp_path, embeddings):
    return build_vector_store(build_chroma_client(path=tmp_path / "chroma"), "boost", embeddings)


def options_chunk_rank(store, weight: float) -> int:
    retriever = ScoredRetriever(vectorstore=store, title_weight=weight)
    retriever.warm()
    hits = retriever.invoke(QUESTION, k=10)
    ids = [hit.id for hit in hits]
    assert [h.metadata["score"] for h in hits] == sorted(
        (h.metadata["score"] for h in hits), reverse=True
    )
    assert [h.metadata["cite"] for h in hits] == [f"doc-{n:03d}" for n in range(1, len(hits) + 1)]
    return ids.index("git-shelve:1")


def test_a_chunk_of_the_page_the_title_names_climbs_above_the_overview(store, index_all):
    index_all(Ingestor(store, build_splitter(300, 0)), [PAGE, OVERVIEW])
    assert options_chunk_rank(store, 0.5) < options_chunk_rank(store, 0.0)


def test_a_collection_without_headers_is_ranked_by_its_chunks_alone(store, index_all):
    index_all(Ingestor(store, build_splitter(300, 0), chunk_context=False), [PAGE, OVERVIEW])
    plain = ScoredRetriever(vectorstore=store).invoke(QUESTION, k=6)
    boosted = ScoredRetriever(vectorstore=store, title_weight=0.5).invoke(QUESTION, k=6)
    assert [(h.id, h.metadata["score"]) for h in boosted] == [
        (h.id, h.metadata["score"]) for h in plain
    ]


def test_a_document_indexed_after_the_first_search_gets_its_card(store, index_all):
    ingestor = Ingestor(store, build_splitter(300, 0))
    index_all(ingestor, [OVERVIEW])
    retriever = ScoredRetriever(vectorstore=store, title_weight=0.5)
    retriever.invoke(QUESTION, k=4)  # cards read and embedded for the overview alone
    index_all(ingestor, [PAGE])
    plain = ScoredRetriever(vectorstore=store).invoke(QUESTION, k=10)
    alone = next(h.metadata["score"] for h in plain if h.id == "git-shelve:1")
    page = next(h for h in retriever.invoke(QUESTION, k=10) if h.id == "git-shelve:1")
    assert page.metadata["score"] > alone  # its card, a close match, counted at once
