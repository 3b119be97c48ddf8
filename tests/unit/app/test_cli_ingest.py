"""``streaming-rag ingest`` as a user runs it: a real process, real files, real Chroma."""

import os
import subprocess
import sys
from pathlib import Path

from chains.loaders import file_doc_id
from chains.store import build_chroma_client

CLI = str(Path(sys.executable).with_name("streaming-rag"))


def ingest(*args: str, chroma: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_CHROMA_PATH": str(chroma), "COLUMNS": "200"}
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
