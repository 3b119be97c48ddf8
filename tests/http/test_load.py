"""Load: 200 concurrent answer streams plus 20 concurrent ingestion requests, one app.

The scenario is bench section 13's (``bench.load``), against a real ``serve`` process
and the scripted model server as the load generator. Checked here: every stream ends
with ``done`` and holds every token the model server sent, in order; every document
reported ``ready`` is then the first source of a question that quotes it. No timings
are asserted; ``make bench`` reports them.
"""

import pytest
from sse_helpers import start_serve

from bench.load import ANSWER, DOCS_PER_REQUEST, INGEST_REQUESTS, STREAMS, first_sources, run_load

pytestmark = pytest.mark.anyio


@pytest.mark.timeout(600)
async def test_200_streams_and_20_ingestions_at_once_lose_nothing(tmp_path, scripted_llm):
    scripted_llm.script = ANSWER
    # A short resume grace: an answer stopped while it is being read (a reader's mark
    # late on the loaded event loop) shows in every run, not one in twenty.
    process, url = start_serve(
        tmp_path, llm_base_url=scripted_llm.base_url, llm_model="scripted", resume_grace_s=1
    )
    try:
        result = await run_load(url)
        scripted_llm.script = ANSWER.__class__(tokens=["ok"])
        found = await first_sources(url, result.ready)
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert len(result.streams) == STREAMS
    for events in result.streams:
        types = [e["type"] for e in events]
        assert types[-1] == "done" and "error" not in types, events[-3:]
        assert [e["content"] for e in events if e["type"] == "token"] == ANSWER.deltas()
    assert len(result.ready) == INGEST_REQUESTS * DOCS_PER_REQUEST
    wrong = {doc: got for doc, got in found.items() if got != doc}
    assert wrong == {}, f"ready documents not answerable: {wrong}"
