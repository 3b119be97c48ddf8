"""schemathesis against the running app's own ``/openapi.json``, every route included.

Every operation, LangServe's among them, gets generated requests (valid and not): no
5xx, no hang (each request has a timeout), and every documented response body matches
its schema. schemathesis runs as its command line (its pytest plugin does not load
under pytest 9) against a real uvicorn; the scripted model server answers, so the
streams end quickly, and the writes go to a collection of this test's own. Keys are on
(reads protected) and schemathesis sends the admin key, so every route, ``/keys``
included, gets past the door to its handler.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from sse_helpers import scripted_app

from bench.scripted_llm import Script

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.timeout(900)
def test_every_route_answers_generated_requests_without_5xx_and_as_documented(
    serve, kb_settings, embeddings, scripted_llm, tmp_path
):
    scripted_llm.script = Script(tokens=["A ", "short ", "answer [doc-001]."])
    settings = kb_settings.model_copy(
        update={
            "chroma_path": tmp_path / "chroma",
            "keys_path": tmp_path / "keys.json",
            "api_key": SecretStr("fuzz-admin"),
            "protect_reads": True,
        }
    )
    with serve(scripted_app(settings, embeddings, scripted_llm.base_url)) as server:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error,response_schema_conformance",
                "--max-examples",
                "8",
                "--request-timeout",
                "60",
                "--generation-deterministic",
                "--no-color",
                "--header",
                "Authorization: Bearer fuzz-admin",
            ],
            capture_output=True,
            text=True,
            timeout=840,
            cwd=tmp_path,
        )
    report = run.stdout + run.stderr
    (tmp_path / "schemathesis.txt").write_text(report)
    assert run.returncode == 0, f"{tmp_path / 'schemathesis.txt'}:\n{report[-6000:]}"
    assert "No issues found" in report or " passed" in report, report[-2000:]
