"""The MCP door driven by real clients: the ``mcp`` SDK's own, stdio, and a LangChain agent.

Most tests talk to a running ``streaming-rag serve`` (a process of its own, on the
session's real engine) with keys on and reads protected: a reader key for the default
knowledge base, a writer key, and a ``private`` knowledge base holding a canary that
neither may read. The cancellation test uses the scripted model server, which records
whether its request was closed.
"""

import contextlib
import json
import os
from types import SimpleNamespace

import anyio
import httpx
import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_mcp_adapters.client import MultiServerMCPClient
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client
from sse_helpers import CLI, model_request_ended, scripted_app, start_serve

from app.protocols.mcp_results import AnswerCollector
from app.server import create_app
from bench.scripted_llm import Script

pytestmark = pytest.mark.anyio

ADMIN = "mcp-admin-key"
CANARY = "CANARY-mcp-7f3a"
QUESTION = "What is backpressure?"


@pytest.fixture(scope="module")
def service(tmp_path_factory, local_llm):
    """`streaming-rag serve` with keys, protected reads and the write tools turned on."""
    home = tmp_path_factory.mktemp("mcp")
    process, url = start_serve(
        home,
        api_key=ADMIN,
        protect_reads="true",
        mcp_write_tools="true",
        llm_base_url=local_llm.base_url,
        llm_model="smollm2",
        llm_max_tokens=48,
    )
    try:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        with httpx.Client(base_url=url, headers=admin, timeout=120) as http:
            http.post("/kbs", json={"name": "private"}).raise_for_status()
            secret = {"id": "vault", "content": f"The vault code is {CANARY}."}
            http.post("/index", json={"kb": "private", "documents": [secret]}).raise_for_status()
            keys = {
                name: http.post("/keys", json={"name": name, **grants}).json()["key"]
                for name, grants in {
                    "reader": {"read": ["streaming_rag"]},
                    "writer": {"read": ["streaming_rag"], "write": ["streaming_rag"]},
                }.items()
            }
        yield SimpleNamespace(url=url, **keys)
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.asynccontextmanager
async def mcp_session(url, key=None):
    """An initialized ``mcp`` client session on ``url``/mcp, sending ``key`` if given."""
    headers = {"Authorization": f"Bearer {key}"} if key else None
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def structured_equals_text(result):
    """The result's JSON text and its structured content carry the same data."""
    text = [block.text for block in result.content if block.type == "text"]
    assert len(text) == 1
    assert json.loads(text[0]) == result.structuredContent
    return result.structuredContent


async def test_mcp_without_a_key_is_refused_with_401_when_reads_are_protected(service):
    async with httpx.AsyncClient(base_url=service.url) as http:
        raw = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )
    assert raw.status_code == 401 and "API key" in raw.json()["detail"]
    with pytest.raises(BaseException) as refused:  # the client's task group wraps it
        async with mcp_session(service.url):
            pass
    statuses = [
        error.response.status_code
        for error in _leaves(refused.value)
        if isinstance(error, httpx.HTTPStatusError)
    ]
    assert statuses == [401]


def _leaves(error):
    """Every exception inside ``error`` (exception groups opened)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


async def test_mcp_search_returns_citable_chunks_whose_links_all_resolve(service):
    async with mcp_session(service.url, service.reader) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        listed = structured_equals_text(await session.call_tool("list_knowledge_bases", {}))
        result = await session.call_tool("search", {"query": QUESTION, "k": 4})
        found = structured_equals_text(result)
        links = [block for block in result.content if block.type == "resource_link"]
        documents = {str(link.uri): await session.read_resource(link.uri) for link in links}
        alike = await session.call_tool("search", {"query": QUESTION, "k": 4, "min_score": 0.5})

    for name in ("list_knowledge_bases", "search", "ask"):
        assert tools[name].annotations.readOnlyHint is True, name
    assert [kb["name"] for kb in listed["knowledge_bases"]] == ["streaming_rag"]
    assert listed["knowledge_bases"][0]["documents"] >= 20
    chunks = found["chunks"]
    assert len(chunks) == 4 and not found["truncated"]
    assert chunks[0]["doc_id"] == "backpressure" and chunks[0]["id"].startswith("backpressure")
    assert [c["score"] for c in chunks] == sorted((c["score"] for c in chunks), reverse=True)
    assert set(documents) == {c["uri"] for c in chunks} and len(links) == len(documents)
    for chunk in chunks:
        text = documents[chunk["uri"]].contents[0].text
        assert chunk["text"] in text, chunk["uri"]
    kept = alike.structuredContent["chunks"]
    assert kept and all(c["score"] >= 0.5 for c in kept) and len(kept) < 4


async def test_mcp_ask_reports_rising_progress_and_returns_checked_citations(service):
    progress = []

    async def record(done, total, message):
        progress.append((done, message))

    async with mcp_session(service.url, service.reader) as session:
        result = await session.call_tool("ask", {"question": QUESTION}, progress_callback=record)
        answer = structured_equals_text(result)
        links = [str(b.uri) for b in result.content if b.type == "resource_link"]
        first_turn, progress = progress, []
        follow_up = {
            "question": "How does it keep memory bounded?",
            "chat_history": [
                {"role": "user", "content": QUESTION},
                {"role": "assistant", "content": answer["answer"]},
            ],
            "progressive": True,
        }
        waves = await session.call_tool("ask", follow_up, progress_callback=record)

    assert not result.isError and not waves.isError
    steps = [done for done, _ in first_turn]
    # sources found, one report per 16 tokens (however long the small model's answer), done
    reports = answer["metrics"]["token_count"] // AnswerCollector.TOKENS_PER_REPORT
    assert steps == list(range(1, 3 + reports))
    assert first_turn[0][1] == f"{len(answer['sources'])} sources found"
    assert first_turn[-1][1].startswith("done:")
    told = [message for _, message in progress]
    assert any(message.startswith("wave 2 of ") for message in told), told
    assert len(waves.structuredContent["sources"]) > 1
    assert answer["answer"].strip() and answer["metrics"]["token_count"] > 0
    assert [s["cite"] for s in answer["sources"]] == ["doc-001", "doc-002", "doc-003", "doc-004"]
    assert answer["sources"][0]["doc_id"] == "backpressure"
    assert set(links) == {s["uri"] for s in answer["sources"]}
    cites = {s["cite"] for s in answer["sources"]}
    for citation in answer["citations"]:
        assert citation["valid"] == (citation["cite"] in cites)
    summary = answer["grounding_summary"]
    assert summary is not None and len(answer["grounding"]) == summary["sentences"] > 0
    for sentence in answer["grounding"]:
        assert sentence["text"] and sentence["text"] in answer["answer"]
        assert sentence["cite"] in cites


async def test_mcp_forbidden_knowledge_base_answers_exactly_like_a_missing_one(service):
    async with mcp_session(service.url, service.reader) as session:
        errors = {}
        for kb in ("private", "nowhere"):
            searched = await session.call_tool("search", {"query": "vault code", "kb": kb})
            asked = await session.call_tool("ask", {"question": "vault code?", "kb": kb})
            with pytest.raises(Exception) as unread:
                await session.read_resource(f"kb://{kb}/documents/vault")
            assert searched.isError and asked.isError
            errors[kb] = [searched.content[0].text, asked.content[0].text, str(unread.value)]

    assert CANARY not in json.dumps(errors)
    as_private = [text.replace("private", "NAME") for text in errors["private"]]
    as_missing = [text.replace("nowhere", "NAME") for text in errors["nowhere"]]
    assert as_private == as_missing
    assert "no knowledge base" in as_missing[0]


async def test_mcp_bad_arguments_are_tool_errors_and_the_session_goes_on(service):
    async with mcp_session(service.url, service.reader) as session:
        bad = [
            await session.call_tool("search", {"query": QUESTION, "k": 30}),
            await session.call_tool("search", {"query": "   "}),
            await session.call_tool("search", {"k": 3}),
            await session.call_tool("ask", {"question": QUESTION, "chat_history": [{"x": 1}]}),
        ]
        after = await session.call_tool("search", {"query": QUESTION, "k": 1})

    messages = [result.content[0].text for result in bad]
    assert all(result.isError for result in bad), messages
    assert "less than or equal to 20" in messages[0]
    assert "empty" in messages[1]
    assert "query" in messages[2] and "required" in messages[2].lower()
    assert "chat_history" in messages[3]
    assert not after.isError and len(after.structuredContent["chunks"]) == 1


async def test_mcp_write_tools_need_write_scope_and_what_they_write_is_searchable(service):
    text = "The okapi is a forest giraffe of the Congo with striped legs."
    async with mcp_session(service.url, service.reader) as reader:
        tools = {tool.name: tool for tool in (await reader.list_tools()).tools}
        refused = await reader.call_tool("index_text", {"text": text, "doc_id": "okapi"})
    async with mcp_session(service.url, service.writer) as writer:
        indexed = await writer.call_tool("index_text", {"text": text, "doc_id": "okapi"})
        found = await writer.call_tool("search", {"query": "forest giraffe", "k": 1})
        deleted = await writer.call_tool("delete_document", {"doc_id": "okapi"})
        again = await writer.call_tool("delete_document", {"doc_id": "okapi"})

    for name in ("index_text", "delete_document"):
        assert tools[name].annotations.destructiveHint is True
        assert tools[name].annotations.readOnlyHint is False
    assert refused.isError and "may not write" in refused.content[0].text
    assert indexed.structuredContent["chunks"] == 1
    assert found.structuredContent["chunks"][0]["doc_id"] == "okapi"
    assert deleted.structuredContent["chunks"] == 1
    assert again.isError and "okapi" in again.content[0].text


async def test_mcp_write_tools_are_off_by_default(serve, kb_settings, embeddings):
    # An app of its own: serving one runs its lifespan, whose end closes its model client,
    # and the session's kb_app is also called in process by other tests.
    with serve(create_app(kb_settings, embeddings=embeddings)) as server:
        async with mcp_session(server.url) as session:
            names = {tool.name for tool in (await session.list_tools()).tools}
            templates = (await session.list_resource_templates()).resourceTemplates
    assert names == {"list_knowledge_bases", "search", "ask"}
    assert [t.uriTemplate for t in templates] == ["kb://{kb}/documents/{doc_id}"]


async def test_mcp_client_that_leaves_mid_ask_cancels_the_model_request(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=400, rate=50)
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url)
    reports = []
    with serve(app) as server:
        async with mcp_session(server.url) as session:
            with anyio.move_on_after(60) as leaving:

                async def leave_after_tokens(done, total, message):
                    reports.append(message)
                    if "tokens written" in message:
                        leaving.cancel()

                await session.call_tool(
                    "ask", {"question": QUESTION}, progress_callback=leave_after_tokens
                )
        call = await model_request_ended(scripted_llm, within_s=10)

    assert leaving.cancelled_caught and "tokens written" in reports[-1]
    assert call.client_disconnected and call.tokens_sent < 400


async def test_mcp_ask_when_the_model_dies_mid_answer_is_a_tool_error(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=40, die_after=3)
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url)
    with serve(app) as server:
        async with mcp_session(server.url) as session:
            failed = await session.call_tool("ask", {"question": QUESTION})
            after = await session.call_tool("search", {"query": QUESTION, "k": 1})
    assert failed.isError and "the answer failed" in failed.content[0].text
    assert "Traceback" not in failed.content[0].text
    assert not after.isError


async def test_mcp_over_stdio_serves_the_same_tools_to_a_child_process(tmp_path, local_llm):
    environ = {
        **os.environ,
        "RAG_CHROMA_PATH": str(tmp_path / "chroma"),
        "RAG_LLM_BASE_URL": local_llm.base_url,
        "RAG_LLM_MODEL": "smollm2",
        "RAG_LLM_MAX_TOKENS": "24",
    }
    server = StdioServerParameters(command=str(CLI), args=["mcp"], env=environ)
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with (
            stdio_client(server, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            names = {tool.name for tool in (await session.list_tools()).tools}
            found = await session.call_tool("search", {"query": QUESTION, "k": 2})
            answer = await session.call_tool("ask", {"question": QUESTION})

    assert names == {"list_knowledge_bases", "search", "ask"}
    assert structured_equals_text(found)["chunks"][0]["doc_id"] == "backpressure"
    assert structured_equals_text(answer)["answer"].strip()


class ScriptedAgentModel(FakeMessagesListChatModel):
    """The agent's model, scripted: it calls ``search`` once, then answers.

    It stands in for the model's choice only; the agent loop, the tools loaded through
    the adapters, and the MCP server they call are the real ones.
    """

    def bind_tools(self, tools, **kwargs):
        return self


async def test_langchain_agent_calls_search_through_the_mcp_adapters(service):
    client = MultiServerMCPClient(
        {
            "rag": {
                "transport": "streamable_http",
                "url": f"{service.url}/mcp",
                "headers": {"Authorization": f"Bearer {service.reader}"},
            }
        }
    )
    tools = await client.get_tools()
    call = {"name": "search", "args": {"query": QUESTION, "k": 3}, "id": "call-1"}
    model = ScriptedAgentModel(
        responses=[AIMessage("", tool_calls=[call]), AIMessage("Backpressure slows the producer.")]
    )
    agent = create_agent(model, tools)
    state = await agent.ainvoke({"messages": [HumanMessage(QUESTION)]})

    assert {tool.name for tool in tools} >= {"search", "ask", "list_knowledge_bases"}
    replies = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert len(replies) == 1 and replies[0].status != "error"
    chunks = replies[0].artifact["structured_content"]["chunks"]
    assert len(chunks) == 3
    text = json.dumps(replies[0].content)
    for chunk in chunks:
        assert chunk["id"] in text
