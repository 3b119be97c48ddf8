"""Streaming summarization over HTTP: the real app, Chroma and local model server.

The long document is the GNU GPL version 3 from Debian's base-files (35,149 characters):
real prose that every machine has, several times the model's context.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sse_helpers import assert_engine_goes_idle, engine_metric, of_type, read_events

pytestmark = pytest.mark.anyio

GPL = Path("/usr/share/common-licenses/GPL-3").read_text()


async def engine_tokens(url: str, text: str) -> int:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{url}/tokenize", json={"content": text})
    return len(response.raise_for_status().json()["tokens"])


async def read_until(base_url: str, body: dict, stop_at: str) -> list[dict]:
    """The events up to the first ``stop_at`` one; then the client hangs up."""
    out = []
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        async with client.stream("POST", "/summarize/sse", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    out.append(json.loads(line[6:]))
                    if out[-1]["type"] == stop_at:
                        break
    return out


async def test_document_three_times_the_context_is_summarized_by_the_model(
    live_server, local_llm, settings
):
    assert await engine_tokens(local_llm.url, GPL) >= 3 * settings.local_llm_ctx
    predicted = await engine_metric(local_llm.url, "tokens_predicted_total")
    events = await read_events(
        live_server, path="/summarize/sse", json={"content": GPL, "title": "GNU GPL v3"}
    )
    types = [t for _, t, _ in events]
    assert types[0] == "summary_start" and types[-1] == "summary_done" and "error" not in types
    start, done = events[0][2], events[-1][2]
    assert start["total_chars"] == len(GPL.strip()) and start["total_chunks"] > 10
    chunks = of_type(events, "summary_chunk")
    assert sorted(c["chunk_index"] for c in chunks) == list(range(start["total_chunks"]))
    assert chunks[-1]["progress"] == 100 and all(c["partial_summary"] for c in chunks)
    assert types.index("token") > max(i for i, t in enumerate(types) if t == "summary_chunk")
    summary = done["final_summary"]
    assert len(summary) > 40 and summary not in GPL  # written, not copied
    assert done["metrics"]["token_count"] == types.count("token") > 5
    assert done["metrics"]["model_calls"] > start["total_chunks"]
    assert 0 < done["metrics"]["first_token_ms"] < done["metrics"]["total_ms"]
    generated = await engine_metric(local_llm.url, "tokens_predicted_total") - predicted
    assert generated >= done["metrics"]["token_count"] + len(chunks)


async def test_indexed_document_by_id_is_split_as_the_same_text_inline(live_server):
    async with httpx.AsyncClient(base_url=live_server, timeout=120) as client:
        indexed = await client.post("/index", json={"documents": [{"id": "gpl-3", "content": GPL}]})
    assert indexed.raise_for_status().json()["documents"][0]["status"] == "ready"
    assert indexed.json()["documents"][0]["num_chunks"] > 40  # overlapping 800-char chunks
    by_id = await read_until(live_server, {"doc_id": "gpl-3"}, stop_at="summary_start")
    inline = await read_until(live_server, {"content": GPL}, stop_at="summary_start")
    assert by_id[0]["document_id"] == "gpl-3" and by_id[0]["title"] == ""
    assert by_id[0]["total_chars"] == inline[0]["total_chars"] == len(GPL.strip())
    assert by_id[0]["total_chunks"] == inline[0]["total_chunks"]


async def test_disconnect_mid_summary_leaves_no_request_at_the_model_server(live_server, local_llm):
    events = await read_until(live_server, {"content": GPL}, stop_at="summary_chunk")
    assert events[-1]["progress"] < 100, "the client left before the parts were done"
    await assert_engine_goes_idle(local_llm.url, "model requests kept running")
    decoded = await engine_metric(local_llm.url, "n_decode_total")
    await asyncio.sleep(1.5)
    assert await engine_metric(local_llm.url, "n_decode_total") == decoded, "a new part started"


async def test_remote_runnable_on_summarize_streams_the_same_events(live_server, remote_runnable):
    remote = remote_runnable(f"{live_server}/summarize")
    text = GPL[:3000]
    events = [e async for e in remote.astream({"content": text, "title": "preamble"})]
    types = [e["type"] for e in events]
    assert types[0] == "summary_start" and types[-1] == "summary_done"
    assert types.count("summary_chunk") == events[0]["total_chunks"] == 2
    assert events[-1]["final_summary"] and "token" in types


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "either a non-empty content or a doc_id"),
        ({"content": "   "}, 422, "either a non-empty content or a doc_id"),
        ({"content": "text", "doc_id": "gpl-3"}, 422, "not both"),
        ({"content": "x" * 500_001}, 422, "at most 500000 characters"),
        ({"content": "text", "length": 3}, 422, "Extra inputs are not permitted"),
        ({"doc_id": "no-such-document"}, 404, "no indexed document has the id"),
    ],
)
async def test_summarize_bad_input_is_refused_before_any_event(live_server, body, status, field):
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as client:
        response = await client.post("/summarize/sse", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert field in response.text


async def test_summarize_body_that_is_not_json_is_422(live_server):
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as client:
        response = await client.post(
            "/summarize/sse", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_invalid"


def summarize_cli(*args: str, tmp_path: Path, llm_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RAG_CHROMA_PATH": str(tmp_path / "chroma"),
        "RAG_LLM_BASE_URL": llm_url,
        "RAG_LLM_MODEL": "smollm2",
        "COLUMNS": "200",
    }
    cli = str(Path(sys.executable).with_name("streaming-rag"))
    return subprocess.run(
        [cli, "summarize", *args], env=env, capture_output=True, text=True, timeout=240
    )


def test_cli_summarize_prints_the_summary_and_its_metrics(tmp_path, local_llm):
    document = tmp_path / "gpl-preamble.md"
    document.write_text(GPL[:5000])
    run = summarize_cli(str(document), tmp_path=tmp_path, llm_url=local_llm.base_url)
    assert run.returncode == 0, run.stderr
    chars = len(GPL[:5000].strip())  # edge whitespace is not summarized
    assert f"gpl-preamble.md: {chars:,} characters in 3 parts" in run.stderr
    assert "first summary token" in run.stderr and "model calls" in run.stderr
    summary = run.stdout.strip()
    assert len(summary) > 40 and summary not in GPL


def test_cli_summarize_of_a_missing_file_or_unknown_id_fails_clearly(tmp_path, local_llm):
    missing = summarize_cli(str(tmp_path / "gone.txt"), tmp_path=tmp_path, llm_url="http://x/v1")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    unknown = summarize_cli("--id", "nope", tmp_path=tmp_path, llm_url=local_llm.base_url)
    assert unknown.returncode == 1 and "no indexed document has the id 'nope'" in unknown.stderr
