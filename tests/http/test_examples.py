"""The README's examples, run as a user runs them, against the live server."""

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path("examples/remote_client.py")


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
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [bool(re.match(r"\[doc-00\d\] 0\.\d\d sample_docs/", line)) for line in lines[:3]] == [
        True
    ] * 3
    assert "sample_docs/backpressure.md" in lines[0]
    assert "".join(lines[3:]).strip(), "no answer text after the sources"
