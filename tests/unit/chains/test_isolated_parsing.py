"""Files read in a child process: the same text as in process, and each limit named."""

import signal
from pathlib import Path

import pytest

from bench.hostile_files import nested_html, page_count_pdf, text_pdf
from chains.errors import UnreadableFileError, UnsupportedFileError
from chains.isolated_parsing import IsolatedParser, ParseLimits
from chains.loaders import load_upload, read_file


def test_a_child_reads_the_same_text_and_metadata_as_the_loaders_in_process(tmp_path):
    pdf = tmp_path / "tides.pdf"
    pdf.write_bytes(text_pdf(["Spring tides reach nine metres.", "Neap tides do not."]))
    html = tmp_path / "page.html"
    html.write_text("<title>Herons</title><p>The grey heron nests here.</p>")
    parser = IsolatedParser()
    for path in (pdf, html):
        assert parser.read(path) == read_file(path)
    assert "nine metres" in parser.read(pdf)[0]


def test_a_loader_error_comes_back_as_its_own_class_and_message(tmp_path):
    parser = IsolatedParser()
    with pytest.raises(UnsupportedFileError, match=r"unsupported file type '\.exe'"):
        parser.read(tmp_path / "tool.exe")
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(UnreadableFileError, match=r"bad\.pdf is not a readable PDF"):
        parser.read(bad)


@pytest.mark.parametrize(
    ("limits", "make", "said"),
    [
        (ParseLimits(timeout_s=0.5, cpu_s=60), page_count_pdf, r"longer than 0.5 s .*TIMEOUT_S"),
        (ParseLimits(timeout_s=60, cpu_s=1), page_count_pdf, r"more than 1 s of CPU .*CPU_S"),
        (ParseLimits(memory_mb=64), nested_html, r"more than 64 MB of memory .*MEMORY_MB"),
    ],
    ids=["wall-clock", "cpu", "memory"],
)
def test_a_file_over_a_limit_fails_with_the_limit_and_its_setting_named(limits, make, said):
    name = "bomb.pdf" if make is page_count_pdf else "bomb.html"
    with pytest.raises(UnreadableFileError, match=said):
        load_upload(name, make(), IsolatedParser(limits).read)


def test_an_upload_killed_mid_parse_leaves_no_temporary_file_behind():
    folders = set(Path("/tmp").glob("streaming-rag-upload-*"))
    with pytest.raises(UnreadableFileError, match="longer than"):
        load_upload("bomb.pdf", page_count_pdf(), IsolatedParser(ParseLimits(timeout_s=0.5)).read)
    assert set(Path("/tmp").glob("streaming-rag-upload-*")) == folders


def test_a_parser_killed_before_its_cpu_limit_is_not_reported_as_that_limit():
    """Regression: any SIGKILL was reported as the CPU limit, an OOM kill included."""
    parser = IsolatedParser(ParseLimits(timeout_s=30, cpu_s=20, memory_mb=512))
    early = parser._why_died(Path("big.pdf"), -signal.SIGKILL, elapsed_s=2.0)
    late = parser._why_died(Path("big.pdf"), -signal.SIGKILL, elapsed_s=21.0)
    assert "RAG_PARSE_CPU_S" not in early and "killed after 2.0 s" in early
    assert "RAG_PARSE_CPU_S" in late
    assert "RAG_PARSE_CPU_S" in parser._why_died(Path("big.pdf"), -signal.SIGXCPU, 0.5)
