"""``streaming-rag ingest`` as a user runs it: a real process, real files, real Chroma."""

import os
import subprocess
import sys
from pathlib import Path

from chains.loaders import file_doc_id
from chains.store import build_chroma_client, close_chroma_client

CLI = str(Path(sys.executable).with_name("streaming-rag"))


def ingest(*args: str, chroma: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_CHROMA_PATH": str(chroma), "COLUMNS": "200", **settings}
    return subprocess.run(
        [CLI, "ingest", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_ingest_indexes_every_type_and_exits_non_zero_when_a_file_failed(tmp_path, write_pdf):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "egrets.md").write_text("# Egrets\n\nEgrets are white herons of shallow water.")
    (kb / "storks.html").write_text("<html><body><p>Storks migrate to Africa.</p></body></html>")
    (kb / "swifts.txt").write_text("Swifts sleep on the wing.")
    write_pdf(kb / "cranes.pdf", ["Cranes dance in spring."])
    (kb / "broken.pdf").write_bytes(b"not a pdf")
    (kb / "notes.xlsx").write_bytes(b"PK")  # not a supported type: skipped in a directory
    chroma = tmp_path / "chroma"

    run = ingest(str(kb), chroma=chroma)

    assert run.returncode == 1, run.stderr
    assert "indexed 4, failed 1" in run.stderr
    assert "broken.pdf is not a readable PDF" in run.stderr
    assert "Error" not in run.stderr  # a reason in our words, no exception class names
    assert "notes.xlsx" not in run.stderr
    store = build_chroma_client(path=chroma).get_collection("streaming_rag")
    sources = {m["source"] for m in store.get(include=["metadatas"])["metadatas"]}
    assert sources == {
        str(kb / n) for n in ("egrets.md", "storks.html", "swifts.txt", "cranes.pdf")
    }


def test_ingest_of_good_files_exits_zero_and_reindexing_replaces_in_place(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("Puffins nest in burrows on sea cliffs.")
    chroma = tmp_path / "chroma"

    assert ingest(str(note), chroma=chroma).returncode == 0
    note.write_text("Puffins carry many fish crosswise in their beaks.")
    second = ingest(str(note), chroma=chroma)

    assert second.returncode == 0, second.stderr
    store = build_chroma_client(path=chroma).get_collection("streaming_rag")
    got = store.get(where={"doc_id": file_doc_id(note)})
    assert got["documents"] == ["Puffins carry many fish crosswise in their beaks."]


def test_an_explicitly_named_unsupported_or_missing_file_fails(tmp_path):
    sheet = tmp_path / "sheet.xlsx"
    sheet.write_bytes(b"PK")
    run = ingest(str(sheet), str(tmp_path / "gone.txt"), chroma=tmp_path / "chroma")
    assert run.returncode == 1
    assert "unsupported file type '.xlsx'" in run.stderr and "no such file" in run.stderr


def test_watch_refuses_a_path_that_does_not_exist(tmp_path):
    run = ingest("--watch", str(tmp_path / "nowhere"), chroma=tmp_path / "chroma")
    assert run.returncode == 2 and "cannot watch what does not exist" in run.stderr


def test_reindex_rebuilds_stored_documents_with_headers_without_their_files(tmp_path):
    guide = tmp_path / "herons.md"
    guide.write_text(
        "# Herons\n\nHerons are long-legged wading birds.\n\n"
        "## Feeding\n\n" + "They stand still in shallow water and strike at fish. " * 30
    )
    chroma = tmp_path / "chroma"
    assert ingest(str(guide), chroma=chroma, RAG_CHUNK_CONTEXT="false").returncode == 0
    client = build_chroma_client(path=chroma)
    before = client.get_collection("streaming_rag").get(
        include=["documents", "metadatas", "embeddings"]
    )
    close_chroma_client(client)  # so the store is read again after the re-index
    assert not any("context" in m for m in before["metadatas"])
    guide.unlink()  # re-indexing reads the store, not the files

    run = ingest("--reindex", chroma=chroma)

    assert run.returncode == 0, run.stderr
    assert "re-indexed 1 of 1 documents" in run.stderr
    store = build_chroma_client(path=chroma).get_collection("streaming_rag")
    after = store.get(include=["documents", "metadatas", "embeddings"])
    assert after["ids"] == before["ids"] and after["documents"] == before["documents"]
    assert after["metadatas"][-1]["context"].startswith("Herons > Feeding\n")
    assert all(m["source"] == str(guide) for m in after["metadatas"])
    moved = [float(a @ b) for a, b in zip(before["embeddings"], after["embeddings"], strict=True)]
    assert all(similarity < 0.9999 for similarity in moved), moved  # embedded with the header


def test_ingest_needs_paths_or_reindex_but_not_both(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("Gannets dive from thirty metres.")
    for args in ((), ("--reindex", str(note))):
        run = ingest(*args, chroma=tmp_path / "chroma")
        assert run.returncode == 2 and "or --reindex" in run.stderr
