"""An indexed document rebuilt from its chunks: real splitter, real Chroma, real embeddings."""

from pathlib import Path

import pytest

from chains.chunking import InputDocument, build_splitter
from chains.documents import document_text
from chains.ingest import Ingestor
from chains.store import build_chroma_client, build_vector_store

GPL = Path("/usr/share/common-licenses/GPL-3").read_text()


@pytest.fixture
def store(tmp_path, embeddings):
    return build_vector_store(build_chroma_client(path=tmp_path / "c"), "texts", embeddings)


def test_document_is_rebuilt_exactly_without_its_overlaps(store, index_all):
    index_all(Ingestor(store, build_splitter(800, 100)), [InputDocument(id="gpl", content=GPL)])
    chunks = store.get(where={"doc_id": "gpl"}, include=["documents"])["documents"]
    assert len(chunks) > 40 and sum(map(len, chunks)) > len(GPL)  # some overlap
    assert document_text(store, "gpl") == GPL


def test_chunks_that_do_not_overlap_keep_the_whitespace_between_them(store, index_all):
    paragraphs = [f"  Paragraph {i} " + "word " * 40 for i in range(6)]
    text = "\n\n\n".join(p.rstrip() for p in paragraphs) + "\n"
    index_all(Ingestor(store, build_splitter(220, 20)), [InputDocument(id="p", content=text)])
    assert document_text(store, "p") == text


def test_document_text_of_an_unknown_id_is_none(store):
    assert document_text(store, "nowhere") is None


def test_chunks_indexed_without_offsets_are_joined_by_blank_lines(store):
    store.add_texts(
        ["second part", "first part"],
        metadatas=[{"doc_id": "old", "chunk_index": 1}, {"doc_id": "old", "chunk_index": 0}],
        ids=["old:1", "old:0"],
    )
    assert document_text(store, "old") == "first part\n\nsecond part"
