"""When one worker writes, the other worker's next request sees it: no cache to wait out.

Two real ``streaming-rag serve`` processes on one ``chroma run`` server (the fixtures in
``conftest.py``). Every write goes through the first worker and every read through the
second, straight after the write returns: a new knowledge base, a document indexed into
it, the same document replaced, the knowledge base deleted, then created again under
the same name. Each read is one a user would make next: list, ask, open.
"""

import httpx
import pytest
from sse_helpers import of_type, read_events

from bench.scripted_llm import Script

pytestmark = pytest.mark.anyio

KB = "field-notes"
FIRST = {"id": "wombat", "content": "The wombat ledger records 77 burrows on Maria Island."}
REPLACED = {"id": "wombat", "content": "The wombat ledger now records 91 burrows and 3 setts."}
AGAIN = {"id": "bilby", "content": "The bilby survey found 58 burrows in the Pilliga scrub."}


async def ask(url: str, question: str) -> list[dict]:
    """The sources of one answer, by vector or (``progressive``) also by keyword."""
    body = {"question": question, "kb": KB, "progressive": True}
    events = await read_events(url, json=body)
    assert events[-1][1] == "done", events[-1]
    return of_type(events, "source")


async def test_second_worker_sees_each_write_of_the_first_on_its_next_request(
    two_workers, pacer
):
    first, second = two_workers
    pacer.script = Script(tokens=8)
    index = {"kb": KB}
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.post(f"{first}/kbs", json={"name": KB})).status_code == 201
        listed = (await client.get(f"{second}/kbs")).json()["kbs"]
        wrote = await client.post(f"{first}/index", params=index, json={"documents": [FIRST]})
        assert wrote.status_code == 200, wrote.text
        found = await ask(second, "How many burrows does the wombat ledger record?")

        replaced = await client.post(f"{first}/index", params=index, json={"documents": [REPLACED]})
        assert replaced.status_code == 200, replaced.text
        found_new = await ask(second, "How many burrows does the wombat ledger record?")
        opened = (await client.get(f"{second}/documents/wombat", params=index)).json()

        assert (await client.delete(f"{first}/kbs/{KB}")).status_code == 204
        gone = await client.post(f"{second}/rag/sse", json={"question": "wombat", "kb": KB})

        assert (await client.post(f"{first}/kbs", json={"name": KB})).status_code == 201
        wrote = await client.post(f"{first}/index", params=index, json={"documents": [AGAIN]})
        assert wrote.status_code == 200, wrote.text
        found_again = await ask(second, "How many burrows did the bilby survey find?")
        relisted = (await client.get(f"{second}/documents", params=index)).json()

    assert KB in {kb["name"] for kb in listed}
    assert [s["content"] for s in found if s["doc_id"] == "wombat"] == [FIRST["content"]]
    assert [s["content"] for s in found_new if s["doc_id"] == "wombat"] == [REPLACED["content"]]
    assert opened["text"] == REPLACED["content"]
    assert gone.status_code == 404 and KB in gone.json()["detail"]
    assert {s["doc_id"] for s in found_again} == {"bilby"}
    assert [d["id"] for d in relisted["documents"]] == ["bilby"]
