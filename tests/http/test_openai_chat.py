"""``/v1/chat/completions`` and ``/v1/models`` driven by the official OpenAI clients.

The ``openai`` package and LangChain's ``ChatOpenAI`` talk to the real app over HTTP, on
the sample knowledge base in real Chroma. The scripted model server sends a known token
list, so the client's text can be compared with what the model sent, and it records
whether its request was closed; one test runs on the real engine.
"""

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import SecretStr
from sse_helpers import model_request_ended, scripted_app

from bench.scripted_llm import Script

pytestmark = pytest.mark.anyio

TOKENS = ["Back", "pressure", " slows", " the", " producer", " [doc-001]", "."]
QUESTION = [{"role": "user", "content": "What is backpressure?"}]


@pytest.fixture
def app(kb_settings, embeddings, scripted_llm):
    scripted_llm.script = Script(tokens=TOKENS)
    return scripted_app(kb_settings, embeddings, scripted_llm.base_url)


def texts(chunks):
    """The content deltas of a stream's chunks, in order, empty ones left out."""
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


def client_for(server, **options):
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="none", **options)


async def test_openai_client_streams_the_models_tokens_after_the_sources(serve, app):
    with serve(app) as server:
        client = client_for(server)
        stream = await client.chat.completions.create(
            model="rag",
            messages=QUESTION,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        await client.close()

    extras = [chunk.model_extra or {} for chunk in chunks]
    first_text = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content)
    with_sources = [i for i, extra in enumerate(extras) if "sources" in extra]
    assert texts(chunks) == TOKENS
    assert with_sources and with_sources[0] < first_text
    sources = extras[with_sources[0]]["sources"]
    assert sources[0]["doc_id"] == "backpressure" and sources[0]["cite"] == "doc-001"
    citations = [c for extra in extras for c in extra.get("citations", [])]
    assert [(c["cite"], c["valid"]) for c in citations] == [("doc-001", True)]
    checks = [g for extra in extras for g in extra.get("grounding", [])]
    whole = (0, len("".join(TOKENS)), True)
    assert [(g["start"], g["end"], g["supported"]) for g in checks] == [whole]
    assert checks[0]["citation_supported"] is True
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finish] == ["stop"]
    assert (finish[0].model_extra or {})["rag"]["cited"] == ["doc-001"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(TOKENS)
    assert len({c.id for c in chunks}) == 1 and chunks[0].object == "chat.completion.chunk"


async def test_openai_client_gets_one_completion_when_not_streaming(serve, app):
    with serve(app) as server:
        client = client_for(server)
        completion = await client.chat.completions.create(model="rag", messages=QUESTION)
        await client.close()

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "".join(TOKENS)
    assert completion.choices[0].finish_reason == "stop"
    extra = completion.model_extra or {}
    assert extra["sources"][0]["doc_id"] == "backpressure"
    assert [c["cite"] for c in extra["citations"]] == ["doc-001"]
    assert [g["cite"] for g in extra["grounding"]] == ["doc-001"]
    assert completion.usage.completion_tokens == len(TOKENS)


async def test_langchain_chat_openai_pointed_at_v1_streams_the_same_tokens(serve, app):
    with serve(app) as server:
        llm = ChatOpenAI(base_url=f"{server.url}/v1", model="rag", api_key=SecretStr("none"))
        streamed = [chunk.content async for chunk in llm.astream("What is backpressure?")]
        invoked = await llm.ainvoke([("human", "What is backpressure?")])

    assert [text for text in streamed if text] == TOKENS
    assert invoked.content == "".join(TOKENS)


async def test_earlier_turns_reach_the_model_as_history_and_system_messages_do_not(
    serve, app, scripted_llm
):
    messages = [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "What is the okapi relay?"},
        {"role": "assistant", "content": "The okapi relay forwards every batch twice."},
        {"role": "user", "content": [{"type": "text", "text": "What is backpressure?"}]},
    ]
    with serve(app) as server:
        client = client_for(server)
        completion = await client.chat.completions.create(model="rag", messages=messages)
        await client.close()

    prompt = str(scripted_llm.calls[-1].body["messages"])
    assert completion.choices[0].message.content == "".join(TOKENS)
    assert "okapi relay forwards every batch twice" in prompt
    assert "pirate" not in prompt


async def test_max_tokens_ends_the_answer_there_and_closes_the_model_request(
    serve, app, scripted_llm
):
    scripted_llm.script = Script(tokens=400, rate=50)  # 8 s unless it is cut
    with serve(app) as server:
        client = client_for(server)
        stream = await client.chat.completions.create(
            model="rag", messages=QUESTION, stream=True, max_tokens=5
        )
        chunks = [chunk async for chunk in stream]
        await client.close()
        call = await model_request_ended(scripted_llm, within_s=10)

    assert len(texts(chunks)) == 5
    assert chunks[-1].choices[0].finish_reason == "length"
    assert call.client_disconnected and call.tokens_sent < 400


async def test_a_client_that_leaves_mid_answer_cancels_the_model_request(
    serve, app, scripted_llm
):
    scripted_llm.script = Script(tokens=400, rate=50)
    with serve(app) as server:
        client = client_for(server)
        stream = await client.chat.completions.create(model="rag", messages=QUESTION, stream=True)
        received = 0
        async for chunk in stream:
            received += bool(chunk.choices and chunk.choices[0].delta.content)
            if received == 3:
                break
        await stream.close()
        await client.close()
        call = await model_request_ended(scripted_llm, within_s=10)

    assert call.client_disconnected and call.tokens_sent < 400


async def test_a_model_failing_mid_answer_is_an_openai_error_on_the_stream(
    serve, app, scripted_llm
):
    scripted_llm.script = Script(tokens=40, die_after=3)
    with serve(app) as server:
        client = client_for(server)
        stream = await client.chat.completions.create(model="rag", messages=QUESTION, stream=True)
        received = []
        with pytest.raises(openai.APIError) as failed:
            async for chunk in stream:
                received.append(chunk)
        await client.close()
    assert any(c.choices and c.choices[0].delta.content for c in received)
    assert failed.value.message


async def test_models_list_each_knowledge_base_and_refusals_are_openai_errors(
    serve, kb_settings, embeddings, scripted_llm
):
    keyed = {"api_key": SecretStr("s3cret"), "protect_reads": True}
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, **keyed)
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            auth = {"Authorization": "Bearer s3cret"}
            await http.post("/kbs", json={"name": "handbook"}, headers=auth)
            raw = await http.post("/v1/chat/completions", json={"messages": []}, headers=auth)
        client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="s3cret")
        models = [model.id async for model in client.models.list()]
        refused = []
        for model, messages in (
            ("gpt-4o", QUESTION),
            ("rag:nowhere", QUESTION),
            ("rag", [{"role": "assistant", "content": "Hello."}]),
            ("rag", [{"role": "user", "content": "x" * 5000}]),
        ):
            with pytest.raises(openai.APIStatusError) as error:
                await client.chat.completions.create(model=model, messages=messages)
            refused.append(error.value)
        unkeyed = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="wrong")
        with pytest.raises(openai.AuthenticationError):
            await unkeyed.chat.completions.create(model="rag", messages=QUESTION)
        await client.close()
        await unkeyed.close()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            await http.delete("/kbs/handbook", headers=auth)

    assert models == ["rag", "rag:handbook"]
    assert [e.status_code for e in refused] == [404, 404, 400, 400]
    assert [e.code for e in refused[:2]] == ["model_not_found", "model_not_found"]
    assert "GET /v1/models" in refused[0].message and "nowhere" in refused[1].message
    assert refused[2].param == "messages" and "last message" in refused[2].message
    assert "question" in refused[3].message
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"
    assert not scripted_llm.calls, "no refused request reached the model"


async def test_openai_client_answers_from_the_real_engine(live_server):
    async with openai.AsyncOpenAI(base_url=f"{live_server}/v1", api_key="none") as client:
        stream = await client.chat.completions.create(model="rag", messages=QUESTION, stream=True)
        chunks = [chunk async for chunk in stream]  # a failure still closes the client

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    sources = [s for c in chunks for s in (c.model_extra or {}).get("sources", [])]
    assert text.strip()
    assert sources and sources[0]["doc_id"] == "backpressure"
    assert chunks[-1].choices[0].finish_reason == "stop"
