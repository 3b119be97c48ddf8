"""The README's examples, run as a user runs them, against the live server."""

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path("examples/remote_client.py")


def assert_three_sources_then_an_answer(run):
    """An example's output: three source lines, the best one backpressure, then text."""
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [bool(re.match(r"\[doc-00\d\] 0\.\d\d sample_docs/", line)) for line in lines[:3]] == [
        True
    ] * 3
    assert "sample_docs/backpressure.md" in lines[0]
    assert "".join(lines[3:]).strip(), "no answer text after the sources"


def test_readme_remote_client_snippet_is_the_example_file():
    readme = Path("README.md").read_text(encoding="utf-8")
    snippet = readme.split("(`examples/remote_client.py`):", 1)[1].split("```python\n", 1)[1]
    snippet = snippet.split("```", 1)[0]
    example = EXAMPLE.read_text(encoding="utf-8")
    for line in snippet.strip().splitlines():
        assert line.strip() in example, f"README line not in {EXAMPLE}: {line!r}"


def test_remote_client_example_prints_sources_then_an_answer(live_server):
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), "What is backpressure?", "--url", f"{live_server}/rag"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_three_sources_then_an_answer(run)


OPENAI_EXAMPLE = Path("examples/openai_client.py")
NODE_EXAMPLE = Path("examples/ai_sdk_chat.mjs")


def test_readme_openai_snippet_is_the_example_file():
    readme = Path("README.md").read_text(encoding="utf-8")
    snippet = readme.split("`examples/openai_client.py` is the whole client:", 1)[1]
    snippet = snippet.split("```python\n", 1)[1].split("```", 1)[0]
    example = OPENAI_EXAMPLE.read_text(encoding="utf-8")
    for line in snippet.strip().splitlines():
        assert line.strip() in example, f"README line not in {OPENAI_EXAMPLE}: {line!r}"


def test_openai_example_prints_sources_then_an_answer(live_server):
    run = subprocess.run(
        [sys.executable, OPENAI_EXAMPLE, "What is backpressure?", "--url", f"{live_server}/v1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert re.match(r"\[doc-001\] 0\.\d\d sample_docs/backpressure\.md$", lines[0]), lines
    sources = [line for line in lines if re.match(r"\[doc-00\d\] ", line)]
    assert "".join(lines[len(sources) :]).strip(), "no answer text after the sources"


def test_ai_sdk_node_example_prints_sources_then_an_answer(live_server):
    run = subprocess.run(
        ["node", NODE_EXAMPLE.name, "What is backpressure?", f"{live_server}/ui/chat"],
        cwd=NODE_EXAMPLE.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_three_sources_then_an_answer(run)


MCP_EXAMPLE = Path("examples/mcp_client.py")


def test_mcp_example_searches_then_answers_with_progress_and_grounding(live_server):
    run = subprocess.run(
        [sys.executable, MCP_EXAMPLE, "What is backpressure?", "--url", f"{live_server}/mcp"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert re.match(r"backpressure:0 0\.\d\d kb://streaming_rag/documents/backpressure$", lines[0])
    assert all(re.match(r"\S+ 0\.\d\d kb://streaming_rag/documents/\S+$", x) for x in lines[:3])
    progress = [line.strip() for line in lines if line.startswith("  … ")]
    assert progress[0] == "… 4 sources found" and progress[-1].startswith("… done:")
    after = lines[lines.index(f"  {progress[-1]}") + 1 :]
    assert after and after[0].strip(), "no answer after the progress"
    assert any(re.match(r"[✓✗] \[doc-00\d\] \d\.\d\d ", line) for line in after), after
