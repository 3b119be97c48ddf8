"""The RAG chain through LangServe, over a real socket, with the real model and Chroma."""

import httpx
import pytest

pytestmark = pytest.mark.anyio

QUESTION = {"question": "What is backpressure in a streaming service?", "k": 2}


@pytest.fixture
def rag(live_server, remote_runnable):
    return remote_runnable(f"{live_server}/rag")


async def test_remote_invoke_returns_answer_and_sources(rag):
    result = await rag.ainvoke(QUESTION)
    assert result["answer"].strip()
    assert len(result["sources"]) == 2
    top = result["sources"][0]
    assert top["doc_id"] == "backpressure"
    assert top["cite"] == "doc-001"
    assert 0.0 < top["score"] <= 1.0
    assert top["metadata"]["source"] == "sample_docs/backpressure.md"


async def test_remote_astream_yields_sources_before_any_answer(rag):
    chunks = [chunk async for chunk in rag.astream(QUESTION)]
    assert "sources" in chunks[0] and "answer" not in chunks[0]
    answers = [c["answer"] for c in chunks[1:]]
    assert all("sources" not in c for c in chunks[1:])
    assert len([a for a in answers if a]) > 1


async def test_remote_astream_events_shows_retriever_end_before_first_token(rag):
    names = []
    async for event in rag.astream_events(QUESTION, version="v2"):
        names.append(event["event"])
        if event["event"] == "on_retriever_end":
            docs = event["data"]["output"]
            assert [d.metadata["cite"] for d in docs] == ["doc-001", "doc-002"]
    assert "on_retriever_end" in names and "on_chat_model_stream" in names
    assert names.index("on_retriever_end") < names.index("on_chat_model_stream")


async def test_remote_batch_answers_each_input(rag):
    results = await rag.abatch([QUESTION, {"question": "What is HNSW?", "k": 1}])
    assert [len(r["sources"]) for r in results] == [2, 1]
    assert all(r["answer"].strip() for r in results)


async def test_bare_string_input_is_taken_as_the_question(live_server):
    async with httpx.AsyncClient(base_url=live_server, timeout=60) as client:
        response = await client.post("/rag/invoke", json={"input": "What is Chroma?"})
    assert response.status_code == 200
    assert len(response.json()["output"]["sources"]) == 4


async def test_filter_restricts_sources_to_matching_metadata(rag):
    result = await rag.ainvoke(
        {
            "question": "How fast do tokens stream?",
            "k": 5,
            "filter": {"topic": "metrics", "year": 2025},
        }
    )
    assert result["sources"]
    assert {s["metadata"]["topic"] for s in result["sources"]} == {"metrics"}


async def test_stream_log_and_stream_events_endpoints_stream_over_http(live_server):
    body = {"input": QUESTION}
    async with httpx.AsyncClient(base_url=live_server, timeout=60) as client:
        for path in ("/rag/stream_log", "/rag/stream_events", "/rag/stream"):
            async with client.stream("POST", path, json=body) as response:
                assert response.status_code == 200, path
                assert response.headers["content-type"].startswith("text/event-stream")
                text = "".join([part async for part in response.aiter_text()])
            assert "event: end" in text, path


@pytest.mark.parametrize(
    "path",
    ["/rag/input_schema", "/rag/output_schema", "/openapi.json", "/docs", "/rag/playground/"],
)
async def test_schema_docs_and_playground_pages_render(live_server, path):
    async with httpx.AsyncClient(base_url=live_server) as client:
        response = await client.get(path)
    assert response.status_code == 200


async def test_input_schema_declares_question_k_filter_chat_history_and_kb(live_server):
    async with httpx.AsyncClient(base_url=live_server) as client:
        schema = (await client.get("/rag/input_schema")).json()
    assert schema["required"] == ["question"]
    assert set(schema["properties"]) == {"question", "k", "filter", "chat_history", "kb"}
    history = schema["properties"]["chat_history"]
    assert history["maxItems"] == 20 and history["default"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": {}}, "question"),
        ({"input": {"question": ""}}, "question"),
        ({"input": {"question": "   \n\t"}}, "question"),
        ({"input": {"question": "x" * 2001}}, "question"),
        ({"input": {"question": "hi", "k": 0}}, "k"),
        ({"input": {"question": "hi", "k": 21}}, "k"),
        ({"input": {"question": "hi", "k": "many"}}, "k"),
        ({"input": {"question": "hi", "filter": {"topic": {"$ne": "x"}}}}, "filter"),
        ({"input": {"question": "hi", "filter": ["topic"]}}, "filter"),
        ({"input": {"question": "hi", "top_k": 3}}, "top_k"),
        ({"input": {"question": "hi"}, "config": {"temperature": 0}}, "temperature"),
        ({"input": {"question": "hi"}, "config": {"configurable": {"llm": "x"}}}, "llm"),
    ],
)
@pytest.mark.parametrize("endpoint", ["invoke", "stream", "stream_events"])
async def test_invalid_input_is_422_naming_the_field_before_any_stream(
    live_server, body, field, endpoint
):
    async with httpx.AsyncClient(base_url=live_server) as client:
        response = await client.post(f"/rag/{endpoint}", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")
    locations = [err["loc"] for err in response.json()["detail"]]
    assert any(field in loc for loc in locations), locations
