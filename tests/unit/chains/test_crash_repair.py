"""A replacement cut between its two writes (kill -9), repaired when the store opens."""

from chains.ingest import (
    Ingestor,
    InputDocument,
    build_splitter,
    chunk_document,
    document_text,
    repair_interrupted_replacements,
)
from chains.store import build_chroma_client, build_vector_store


def text(tag, count):
    return "\n\n".join(f"{tag} paragraph {i}: " + "words " * 40 for i in range(count))


def test_repair_keeps_the_newest_whole_version_of_a_half_replaced_document(
    tmp_path, embeddings, index_all
):
    store = build_vector_store(build_chroma_client(path=tmp_path / "chroma"), "crash", embeddings)
    splitter = build_splitter(300, 0)
    index_all(Ingestor(store, splitter), [{"id": "doc", "content": text("old", 6)}])
    index_all(Ingestor(store, splitter), [{"id": "other", "content": text("other", 3)}])
    old_count = len(store.get(where={"doc_id": "doc"})["ids"])

    # The crash: the new version's upsert landed, the deletion of the old extras did not.
    new = InputDocument(id="doc", content=text("new", 2))
    chunks = chunk_document(new, splitter)
    store._collection.upsert(
        ids=[str(c.id) for c in chunks],
        embeddings=embeddings.embed_documents([c.page_content for c in chunks]),
        documents=[c.page_content for c in chunks],
        metadatas=[c.metadata for c in chunks],
    )
    mixed = store.get(where={"doc_id": "doc"}, include=["documents"])["documents"]
    assert {t.split()[0] for t in mixed} == {"old", "new"}, "the crash state was not built"

    repaired = repair_interrupted_replacements(store)

    assert repaired == {"doc": old_count - len(chunks)}
    assert document_text(store, "doc") == new.content
    assert document_text(store, "other") == text("other", 3), "a whole document is untouched"
    assert repair_interrupted_replacements(store) == {}, "nothing is left to repair"
