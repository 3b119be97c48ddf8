import anyio
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import FakeEmbeddings

from chains.chunking import InputDocument, build_splitter
from chains.errors import EmbeddingMismatchError
from chains.events import cite_key
from chains.ingest import Ingestor, collection_size
from chains.retriever import ScoredRetriever, chroma_where
from chains.store import build_chroma_client, build_vector_store


@pytest.fixture
def store(tmp_path, embeddings):
    client = build_chroma_client(path=tmp_path / "chroma")
    return build_vector_store(client, "test", embeddings)


@pytest.fixture
def index(store, index_all):
    """Index documents into ``store`` with the one pipeline; returns the run's summary."""

    def run(documents, splitter=None):
        return index_all(Ingestor(store, splitter or build_splitter()), documents)

    return run


DOCS = [
    InputDocument(
        id="bread",
        content="Sourdough bread rises slowly in a cool kitchen.",
        metadata={"topic": "food", "year": 2023},
    ),
    InputDocument(
        id="hnsw",
        content="HNSW graphs make approximate nearest neighbour search fast.",
        metadata={"topic": "vector-search", "year": 2024},
    ),
    InputDocument(
        id="sse",
        content="Server-sent events stream text lines over one HTTP response.",
        metadata={"topic": "streaming", "year": 2024},
    ),
]


def test_chroma_collection_uses_cosine_space(store):
    assert store._collection.metadata["hnsw:space"] == "cosine"


def test_document_added_to_chroma_is_found_by_similarity(store, index):
    index(DOCS)
    hits = store.similarity_search("nearest neighbour graph index", k=1)
    assert hits[0].metadata["doc_id"] == "hnsw"
    assert hits[0].id == "hnsw:0"


def test_retriever_scores_are_cosine_similarities_in_rank_order(store, index):
    index(DOCS)
    docs = ScoredRetriever(vectorstore=store, k=3).invoke("streaming HTTP events")
    scores = [d.metadata["score"] for d in docs]
    assert docs[0].metadata["doc_id"] == "sse"
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert [d.metadata["cite"] for d in docs] == ["doc-001", "doc-002", "doc-003"]


def test_retriever_filter_with_several_keys_matches_all_of_them(store, index):
    index(DOCS)
    retriever = ScoredRetriever(vectorstore=store, k=3)
    docs = retriever.invoke("anything", filter={"topic": "streaming", "year": 2024})
    assert [d.metadata["doc_id"] for d in docs] == ["sse"]
    assert retriever.invoke("anything", filter={"topic": "streaming", "year": 2023}) == []


def test_retriever_async_path_takes_per_call_k(store, index):
    index(DOCS)
    retriever = ScoredRetriever(vectorstore=store, k=3)

    async def run() -> list[Document]:
        return await retriever.ainvoke("bread", k=1)

    assert len(anyio.run(run)) == 1


def test_reindexing_with_fewer_chunks_leaves_no_stale_chunk(store, index):
    long = InputDocument(id="guide", content="\n\n".join(f"Paragraph {i}. " * 20 for i in range(6)))
    splitter = build_splitter(chunk_size=300, chunk_overlap=0)
    index([long], splitter)
    first = len(store.get(where={"doc_id": "guide"})["ids"])
    short = InputDocument(id="guide", content="Just one short paragraph now.")
    index([short], splitter)
    assert first > 1
    assert store.get(where={"doc_id": "guide"})["ids"] == ["guide:0"]
    assert collection_size(store) == 1


def test_same_content_without_id_is_stored_once(store, index):
    doc = InputDocument(content="Identical text, indexed twice.")
    index([doc, InputDocument(content="Identical text, indexed twice.")])
    assert collection_size(store) == 1


def test_chroma_where_combines_several_keys_with_and():
    assert chroma_where(None) is None
    assert chroma_where({"a": 1}) == {"a": 1}
    assert chroma_where({"a": 1, "b": "x"}) == {"$and": [{"a": 1}, {"b": "x"}]}
    assert cite_key(0) == "doc-001" and cite_key(11) == "doc-012"


def test_collection_records_its_embedding_model_and_refuses_another(tmp_path, embeddings):
    client = build_chroma_client(path=tmp_path / "chroma")
    build_vector_store(client, "recorded", embeddings, model_name="all-MiniLM-L6-v2")
    assert client.get_collection("recorded").metadata["embedding_dims"] == 384

    with pytest.raises(EmbeddingMismatchError, match="all-MiniLM-L6-v2 \\(384 dimensions\\)"):
        build_vector_store(client, "recorded", embeddings, model_name="another-384-dim-model")
    with pytest.raises(EmbeddingMismatchError, match="other-size \\(8 dimensions\\)"):
        build_vector_store(client, "recorded", FakeEmbeddings(size=8), model_name="other-size")
    build_vector_store(client, "recorded", embeddings, model_name="all-MiniLM-L6-v2")


def test_unrecorded_collection_is_checked_by_the_size_of_its_vectors(tmp_path, embeddings):
    client = build_chroma_client(path=tmp_path / "chroma")
    old = build_vector_store(client, "unrecorded", embeddings)  # as before records were kept
    old.add_texts(["a chunk"], ids=["a:0"])

    with pytest.raises(EmbeddingMismatchError, match="unrecorded model \\(384 dimensions\\)"):
        build_vector_store(client, "unrecorded", FakeEmbeddings(size=8), model_name="other-size")
    build_vector_store(client, "unrecorded", embeddings, model_name="all-MiniLM-L6-v2")
    assert client.get_collection("unrecorded").metadata["embedding_model"] == "all-MiniLM-L6-v2"
