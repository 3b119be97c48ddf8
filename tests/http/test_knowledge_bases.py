"""Knowledge bases over HTTP: list, open and delete documents; several collections.

Real Chroma (a collection per test), real embeddings, the real model for answers; the
scripted server only where an answer must be held open while a document is deleted.
"""

import asyncio

import httpx
import pytest
from pydantic import SecretStr
from sse_helpers import of_type, read_events

from app.server import create_app
from bench.scripted_llm import Script

pytestmark = pytest.mark.anyio

LEDGER = (
    "# The Okapi ledger\n\n"
    "Error ZQX-4471 means the okapi ledger lost its write lock while a batch was open.\n"
    "Restart the ledger writer and replay the batch from the last checkpoint.\n"
)
HERONS = (
    "# Herons of Quillon Bay\n\n"
    "The grey heron colony of Quillon Bay nests in the alder trees above the tide line.\n"
    "Each spring about forty pairs raise their chicks there, and the wardens count them.\n"
)
TIDES = "Tide tables for Quillon Bay are posted at the harbour office every Monday.\n"


@pytest.fixture
def app(settings, embeddings):
    return create_app(
        settings.model_copy(update={"chunk_size": 120, "chunk_overlap": 20}), embeddings=embeddings
    )


async def index(client, documents, kb=None):
    body = {"documents": documents, **({"kb": kb} if kb else {})}
    response = await client.post("/index", json=body)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["failed"] == 0, summary
    return summary


def keyword_doc_ids(app, query):
    """The documents BM25 alone finds, from the snapshot the app's searches use."""
    return {doc.metadata["doc_id"] for doc in app.state.services.keyword.invoke(query, k=4)}


def source_doc_ids(events):
    """Every document a stream showed as a source, in wave 1 or in a later wave."""
    shown = {s["doc_id"] for s in of_type(events, "source")}
    for update in of_type(events, "context_update"):
        shown |= {s["doc_id"] for s in update.get("sources", [])}
    return shown


async def test_documents_lists_each_indexed_document_with_its_counts_and_metadata(serve, app):
    docs = [
        {"id": "ledger", "content": LEDGER, "metadata": {"topic": "ops", "source": "ops/a.md"}},
        {"id": "herons", "content": HERONS, "metadata": {"title": "Herons"}},
        {"id": "tides", "content": TIDES},
    ]
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            summary = await index(client, docs)
            listing = (await client.get("/documents")).raise_for_status().json()
            by_source = (await client.get("/documents", params={"q": "OPS/"})).json()
            second = (await client.get("/documents", params={"page": 2, "page_size": 2})).json()
    chunks = {d["doc_id"]: d["num_chunks"] for d in summary["documents"]}
    assert listing["kb"] == "streaming_rag" and listing["total"] == 3
    assert [d["id"] for d in listing["documents"]] == ["herons", "ledger", "tides"]
    for doc in listing["documents"]:
        original = next(d for d in docs if d["id"] == doc["id"])
        assert doc["num_chunks"] == chunks[doc["id"]]
        assert doc["characters"] == len(original["content"])
        assert doc["metadata"] == original.get("metadata", {})  # no per-chunk keys
        assert doc["indexed_at"].startswith("20")
    assert chunks["ledger"] > 1, "the ledger must span several chunks for the counts to mean much"
    ledger = listing["documents"][1]
    assert ledger["source"] == "ops/a.md" and listing["documents"][0]["title"] == "Herons"
    assert [d["id"] for d in by_source["documents"]] == ["ledger"] and by_source["total"] == 1
    assert [d["id"] for d in second["documents"]] == ["tides"] and second["total"] == 3


async def test_a_document_opens_with_its_chunks_in_order_and_its_text_rebuilt(serve, app):
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            await index(client, [{"id": "ledger", "content": LEDGER}])
            detail = (await client.get("/documents/ledger")).raise_for_status().json()
    assert detail["text"] == LEDGER
    chunks = detail["chunks"]
    assert len(chunks) == detail["num_chunks"] > 1
    assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert [c["id"] for c in chunks] == [f"ledger:{i}" for i in range(len(chunks))]
    for chunk in chunks:  # each chunk is the text at its offset
        start = chunk["start_index"]
        assert LEDGER[start : start + len(chunk["text"])] == chunk["text"]


async def test_after_a_delete_no_answer_finds_the_document_by_vector_or_keyword(serve, app):
    question = {"question": "What does error ZQX-4471 mean?", "progressive": True}
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            summary = await index(
                client,
                [{"id": "ledger", "content": LEDGER}, {"id": "herons", "content": HERONS}],
            )
            before = await read_events(server.url, json=question)
            bm25_before = keyword_doc_ids(app, "ZQX-4471 okapi")
            deleted = await client.delete("/documents/ledger")
            after = await read_events(server.url, json=question)
            keyword_only = await read_events(
                server.url, json={**question, "question": "ZQX-4471 okapi ledger"}
            )
            gone = await client.get("/documents/ledger")
            listing = (await client.get("/documents")).json()
    assert "ledger" in source_doc_ids(before), "the question must find the ledger first"
    assert deleted.status_code == 200
    ledger_chunks = summary["documents"][0]["num_chunks"]
    assert deleted.json()["deleted"] == [{"doc_id": "ledger", "num_chunks": ledger_chunks}]
    for events in (after, keyword_only):
        assert events[-1][1] == "done"
        assert "ledger" not in source_doc_ids(events)
        cited = [c["source_id"] or "" for c in of_type(events, "citation")]
        assert not [chunk for chunk in cited if chunk.startswith("ledger:")]
    assert "ledger" in bm25_before and "ledger" not in keyword_doc_ids(app, "ZQX-4471 okapi")
    assert gone.status_code == 404
    assert [d["id"] for d in listing["documents"]] == ["herons"]


async def test_an_answer_in_flight_keeps_the_sources_of_a_document_deleted_meanwhile(
    serve, settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=["The", " herons", " nest", " [doc-001]", "."], rate=4)
    update = {"llm_base_url": scripted_llm.base_url, "llm_model": "scripted"}
    app = create_app(settings.model_copy(update=update), embeddings=embeddings)
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            await index(client, [{"id": "herons", "content": HERONS}])
            answer = asyncio.create_task(
                read_events(server.url, json={"question": "Where do the herons nest?"})
            )
            while not scripted_llm.calls:  # the sources are out and the model is writing
                await asyncio.sleep(0.02)
            deleted = await client.delete("/documents/herons")
            events = await answer
    assert deleted.status_code == 200 and deleted.json()["collection_size"] == 0
    assert events[-1][1] == "done"
    (citation,) = of_type(events, "citation")
    assert citation["valid"] is True and citation["source_id"].startswith("herons:")


async def test_two_knowledge_bases_keep_their_documents_apart(serve, app):
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            created = await client.post("/kbs", json={"name": "birds"})
            await index(client, [{"id": "herons", "content": HERONS}], kb="birds")
            await index(client, [{"id": "ledger", "content": LEDGER}])
            kbs = (await client.get("/kbs")).json()["kbs"]
            in_birds = await read_events(
                server.url, json={"question": "Where do the herons nest?", "kb": "birds"}
            )
            in_default = await read_events(server.url, json={"question": "Where do herons nest?"})
            ledger = await read_events(server.url, json={"question": "What is error ZQX-4471?"})
            by_get = await read_events(
                server.url, "GET", params={"q": "error ZQX-4471", "kb": "birds"}
            )
            invoked = await client.post(
                "/rag/invoke", json={"input": {"question": "heron chicks", "kb": "birds"}}
            )
            tides = {"documents": [{"id": "tides", "content": TIDES}]}
            by_query = await client.post("/index", params={"kb": "birds"}, json=tides)
            listings = [
                (await client.get("/documents", params={"kb": kb})).json()
                for kb in ("birds", "")
            ]
            wrong_kb = await client.get("/documents/herons")
            removed = await client.delete("/kbs/birds")
            after = await client.get("/documents", params={"kb": "birds"})
            kbs_after = (await client.get("/kbs")).json()["kbs"]
    assert created.status_code == 201
    assert [(kb["name"], kb["default"]) for kb in kbs] == [
        ("streaming_rag", True),
        ("birds", False),
    ]
    assert kbs[1]["chunks"] >= 1 and kbs[1]["embedding_model"] == kbs[0]["embedding_model"]
    assert source_doc_ids(in_birds) == {"herons"}
    assert "herons" not in source_doc_ids(in_default)
    assert source_doc_ids(ledger) == {"ledger"}
    assert "ledger" not in source_doc_ids(by_get)
    assert {s["doc_id"] for s in invoked.json()["output"]["sources"]} == {"herons"}
    assert by_query.status_code == 200
    assert [[d["id"] for d in listing["documents"]] for listing in listings] == [
        ["herons", "tides"],
        ["ledger"],
    ]
    assert wrong_kb.status_code == 404
    assert removed.status_code == 204 and after.status_code == 404
    assert [kb["name"] for kb in kbs_after] == ["streaming_rag"]


async def test_bad_and_unknown_knowledge_bases_are_refused_before_anything_starts(serve, app):
    question = {"question": "Where do the herons nest?", "kb": "nowhere"}
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            names = [
                (await client.post("/kbs", json={"name": name})).status_code
                for name in ("ab", "bad..name", "-dash", "192.168.0.1", "a" * 64, "ok kb")
            ]
            await client.post("/kbs", json={"name": "birds"})
            twice = await client.post("/kbs", json={"name": "birds"})
            default = await client.delete("/kbs/streaming_rag")
            unknown = [
                await client.post("/rag/sse", json=question),
                await client.post("/rag/sse", params={"kb": "nowhere"}, json={"question": "x"}),
                await client.get("/rag/sse", params={"q": "herons", "kb": "nowhere"}),
                await client.post("/rag/invoke", json={"input": question}),
                await client.post("/rag/stream", json={"input": question}),
                await client.post("/rag/events/stream", json={"input": question}),
                await client.post(
                    "/index", json={"documents": [{"content": HERONS}], "kb": "nowhere"}
                ),
                await client.post(
                    "/index/files/sse",
                    params={"kb": "nowhere"},
                    files={"files": ("herons.md", HERONS.encode())},
                ),
                await client.post("/summarize/sse", json={"doc_id": "herons", "kb": "nowhere"}),
                await client.get("/documents", params={"kb": "nowhere"}),
                await client.delete("/documents/herons", params={"kb": "nowhere"}),
                await client.delete("/kbs/nowhere"),
            ]
            malformed = await client.post("/rag/sse", json={**question, "kb": "x"})
            both = {"documents": [{"content": HERONS}], "kb": "birds"}
            twice_named = await client.post("/index", params={"kb": "other"}, json=both)
            listing = (await client.get("/documents")).json()
    assert names == [422] * 6
    assert twice.status_code == 409 and "already" in twice.json()["detail"]
    assert default.status_code == 409 and "default" in default.json()["detail"]
    assert [r.status_code for r in unknown] == [404] * len(unknown), [r.text for r in unknown]
    assert all("nowhere" in r.json()["detail"] for r in unknown)
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["loc"][-1] == "kb"
    assert twice_named.status_code == 422 and "name one" in twice_named.text
    assert listing["total"] == 0, "a refused request indexed nothing"


async def test_unknown_document_ids_are_404_and_a_bulk_delete_naming_one_deletes_nothing(
    serve, app
):
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            await index(
                client, [{"id": "herons", "content": HERONS}, {"id": "tides", "content": TIDES}]
            )
            shown = await client.get("/documents/nothing-here")
            single = await client.delete("/documents/nothing-here")
            bulk = await client.request(
                "DELETE", "/documents", json={"ids": ["herons", "nothing-here"]}
            )
            kept = (await client.get("/documents")).json()
            empty = await client.request("DELETE", "/documents", json={"ids": []})
            both = await client.request("DELETE", "/documents", json={"ids": ["herons", "tides"]})
            left = (await client.get("/documents")).json()
    assert [r.status_code for r in (shown, single, bulk)] == [404, 404, 404]
    assert "'nothing-here'" in bulk.json()["detail"]
    assert "nothing was deleted" in bulk.json()["detail"]
    assert [d["id"] for d in kept["documents"]] == ["herons", "tides"]
    assert empty.status_code == 422
    assert both.status_code == 200
    assert {d["doc_id"] for d in both.json()["deleted"]} == {"herons", "tides"}
    assert both.json()["collection_size"] == 0 and left["total"] == 0


async def test_deletes_and_new_knowledge_bases_need_the_api_key(serve, settings, embeddings):
    keyed = settings.model_copy(update={"api_key": SecretStr("s3cret")})
    app = create_app(keyed, embeddings=embeddings)
    key = {"Authorization": "Bearer s3cret"}
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            await client.post(
                "/index", json={"documents": [{"id": "tides", "content": TIDES}]}, headers=key
            )
            refused = [
                await client.delete("/documents/tides"),
                await client.request("DELETE", "/documents", json={"ids": ["tides"]}),
                await client.post("/kbs", json={"name": "birds"}),
                await client.delete("/kbs/birds"),
            ]
            readable = await client.get("/documents")
            allowed = await client.delete("/documents/tides", headers=key)
    assert [r.status_code for r in refused] == [401] * 4
    assert [d["id"] for d in readable.json()["documents"]] == ["tides"]
    assert allowed.status_code == 200
