"""Files into the index: loaders per type, per-file failures, and watch mode (real Chroma)."""

import asyncio
import threading

import pytest

from chains.chunking import build_splitter
from chains.errors import UnreadableFileError, UnsupportedFileError
from chains.file_ingest import index_files, watch_files
from chains.ingest import Ingestor, collection_size
from chains.loaders import file_doc_id, load_file
from chains.store import build_chroma_client, build_vector_store

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path, embeddings):
    return build_vector_store(build_chroma_client(path=tmp_path / "chroma"), "files", embeddings)


@pytest.fixture
def ingestor(store):
    return Ingestor(store, build_splitter(200, 20), lock=threading.Lock())


def chunks_of(store, path):
    got = store.get(where={"doc_id": file_doc_id(path)})
    return sorted(zip(got["ids"], got["documents"], strict=True))


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("notes.txt", "Herons nest in tall reeds.", "Herons nest in tall reeds."),
        ("guide.md", "# Herons\n\nThey nest in *reeds*.", "# Herons\n\nThey nest in *reeds*."),
        (
            "page.html",
            "<html><head><title>Herons</title></head><body><p>They nest in reeds.</p>"
            "<script>var x = 1;</script></body></html>",
            "They nest in reeds.",
        ),
    ],
)
def test_text_markdown_and_html_load_with_source_set_to_the_path(tmp_path, name, body, expected):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    doc = load_file(path)
    assert expected in doc.content and "<p>" not in doc.content
    assert doc.metadata["source"] == str(path)
    assert doc.id == file_doc_id(path)


def test_html_title_becomes_metadata(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("<html><head><title>Herons</title></head><body>x</body></html>")
    assert load_file(path).metadata["title"] == "Herons"


def test_pdf_text_is_extracted(tmp_path, write_pdf):
    path = write_pdf(tmp_path / "paper.pdf", ["Herons (grey) nest in reeds", "near the river."])
    doc = load_file(path)
    assert "Herons (grey) nest in reeds" in doc.content and "near the river." in doc.content
    assert doc.metadata == {"total_pages": 1, "source": str(path)}


def test_unsupported_suffix_is_refused_naming_the_supported_ones(tmp_path):
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(UnsupportedFileError, match=r"'\.xlsx'.*\.pdf"):
        load_file(path)


def test_loader_failure_is_said_in_our_words_with_the_cause_kept(tmp_path):
    path = tmp_path / "corrupt.pdf"
    path.write_bytes(b"%PDF-1.4 truncated")
    with pytest.raises(UnreadableFileError, match=r"^corrupt\.pdf is not a readable PDF$") as info:
        load_file(path)
    assert info.value.__cause__ is not None


def test_same_path_gives_same_id_and_different_paths_differ(tmp_path):
    assert file_doc_id(tmp_path / "a.txt") == file_doc_id(tmp_path / "." / "a.txt")
    assert file_doc_id(tmp_path / "a.txt") != file_doc_id(tmp_path / "b.txt")


async def test_bad_files_fail_alone_with_a_reason_and_good_ones_are_indexed(
    tmp_path, store, ingestor, write_pdf
):
    good = tmp_path / "good.md"
    good.write_text("Kingfishers dive for small fish.")
    pdf = write_pdf(tmp_path / "good.pdf", ["Cormorants dry their wings in the sun."])
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"this is not a PDF at all")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    missing = tmp_path / "missing.txt"

    files = [good, empty, corrupt, pdf, latin1, missing]
    results = {r.path: r async for r in index_files(ingestor, files)}

    assert set(results) == set(files)
    assert {p for p, r in results.items() if r.status == "indexed"} == {good, pdf}
    assert results[empty].error == "content: must not be empty or whitespace"
    assert results[corrupt].error == "corrupt.pdf is not a readable PDF"
    assert results[latin1].error == "latin1.txt is not UTF-8 text"
    assert results[missing].error == f"no such file: {missing}"
    assert collection_size(store) == 2
    assert chunks_of(store, pdf)[0][1].startswith("Cormorants")


async def wait_for(results: asyncio.Queue, path, status):
    async with asyncio.timeout(15):
        while True:
            result = await results.get()
            if result.path == path and result.status == status:
                return result


async def test_watch_indexes_created_and_changed_files_and_drops_deleted_ones(
    tmp_path, store, ingestor
):
    folder = tmp_path / "kb"
    folder.mkdir()
    results: asyncio.Queue = asyncio.Queue()
    seen = []
    stop = asyncio.Event()

    async def follow():
        async for result in watch_files([folder], ingestor, stop_event=stop):
            seen.append(result)
            await results.put(result)

    watcher = asyncio.create_task(follow())
    try:
        await asyncio.sleep(1)  # let the watcher subscribe before the first change
        path = folder / "birds.md"
        path.write_text(
            "\n\n".join(f"Paragraph {i} about herons and reeds. " * 3 for i in range(6))
        )
        created = await wait_for(results, path, "indexed")
        assert created.num_chunks > 2 and len(chunks_of(store, path)) == created.num_chunks

        path.write_text("Now only one short paragraph about egrets.")
        await wait_for(results, path, "indexed")
        assert [text for _, text in chunks_of(store, path)] == [
            "Now only one short paragraph about egrets."
        ]

        (folder / "ignored.xlsx").write_bytes(b"PK")  # unsupported: not even reported
        path.unlink()
        removed = await wait_for(results, path, "removed")
        assert removed.num_chunks == 1 and chunks_of(store, path) == []
        assert collection_size(store) == 0
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 5)
    assert [r.path.suffix for r in seen if r.path.suffix != ".md"] == []
