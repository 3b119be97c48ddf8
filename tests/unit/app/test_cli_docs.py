"""``streaming-rag docs`` and ``--kb`` as a user runs them: real processes, real Chroma."""

import os
import subprocess
import sys
from pathlib import Path

from chains.loaders import file_doc_id

CLI = str(Path(sys.executable).with_name("streaming-rag"))


def run(*args: str, chroma: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_CHROMA_PATH": str(chroma), "COLUMNS": "200"}
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def test_docs_lists_shows_and_removes_what_ingest_wrote_to_a_named_kb(tmp_path):
    note = tmp_path / "puffins.txt"
    note.write_text("Puffins nest in burrows on sea cliffs.\n\nThey carry fish crosswise.")
    chroma = tmp_path / "chroma"
    doc_id = file_doc_id(note)

    ingested = run("ingest", str(note), "--kb", "seabirds", chroma=chroma)
    listed = run("docs", "list", "--kb", "seabirds", chroma=chroma)
    shown = run("docs", "show", doc_id, "--kb", "seabirds", chroma=chroma)
    removed = run("docs", "rm", doc_id, "ghost", "--kb", "seabirds", chroma=chroma)
    removed_now = run("docs", "rm", doc_id, "--kb", "seabirds", chroma=chroma)

    assert ingested.returncode == 0, ingested.stderr
    assert "created the knowledge base seabirds" in ingested.stderr
    assert listed.returncode == 0 and doc_id in listed.stderr and str(note) in listed.stderr
    assert "seabirds: 1-1 of 1 documents" in listed.stderr
    assert shown.returncode == 0 and "They carry fish crosswise." in shown.stderr
    assert f"{doc_id}:0 at 0" in shown.stderr
    assert removed.returncode == 1 and "'ghost'; nothing was deleted" in removed.stderr
    assert removed_now.returncode == 0
    assert f"removed {doc_id} (1 chunks) from seabirds" in removed_now.stderr


def test_docs_on_an_unknown_kb_exits_one_with_the_reason(tmp_path):
    unknown_kb = run("docs", "list", "--kb", "nowhere", chroma=tmp_path / "chroma")
    assert unknown_kb.returncode == 1
    assert "no knowledge base is called 'nowhere'" in unknown_kb.stderr
