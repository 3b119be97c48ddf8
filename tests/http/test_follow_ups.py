"""Conversations over HTTP: follow-ups with history-aware retrieval, on every door.

The real engine answers and rewrites wherever the behaviour does not depend on exact
tokens. The scripted model server is used only to read the exact prompts the service
sent, and to force a rewrite to fail.
"""

from __future__ import annotations

import subprocess

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from sse_helpers import CLI, assert_well_formed_answer, of_type, read_events, scripted_app

from app.server import create_app
from bench.scripted_llm import Script
from chains.conversation import _CONDENSE_EXAMPLES, CONDENSE_SYSTEM

pytestmark = pytest.mark.anyio

FIRST = "What are server-sent events?"
FOLLOW_UP = "How are they split?"
HISTORY = [
    {"role": "user", "content": FIRST},
    {"role": "assistant", "content": "SSE is a simple HTTP streaming format."},
]


async def test_follow_up_is_found_at_once_by_its_earlier_question(live_server):
    """The sample knowledge base's case: "they" alone finds chunking, not SSE.

    By default (``RAG_FOLLOW_UP_SEARCH=joined``) the follow-up is searched joined to the
    earlier question, with no model rewrite and no second wave.
    """
    body = {"question": FOLLOW_UP, "k": 3, "chat_history": HISTORY}
    events = await read_events(live_server, json=body)
    _, done = assert_well_formed_answer(events)
    assert of_type(events, "source")[0]["doc_id"] == "sse"
    retrieving = of_type(events, "status")[0]
    assert retrieving["phase"] == "retrieving" and retrieving["query"] == f"{FOLLOW_UP} {FIRST}"
    assert "rewriting" not in {s["phase"] for s in of_type(events, "status")}
    assert not of_type(events, "context_update") and "rewrite_ms" not in done["metrics"]


async def test_follow_up_searched_as_written_misses_its_subject(serve, kb_settings, embeddings):
    """``RAG_FOLLOW_UP_SEARCH=rewrite``, the mode before: wave 1 searches "they" alone."""
    body = {"question": FOLLOW_UP, "k": 3, "chat_history": HISTORY}
    as_written = kb_settings.model_copy(update={"follow_up_search": "rewrite"})
    with serve(create_app(as_written, embeddings=embeddings)) as server:
        alone = await read_events(server.url, json=body)
    assert "sse" not in {s["doc_id"] for s in of_type(alone, "source")}
    assert "query" not in of_type(alone, "status")[0]


async def test_a_rewrite_that_agrees_with_wave_1_changes_nothing_and_the_draft_starts_at_once(
    serve, kb_settings, embeddings, scripted_llm
):
    """``joined_rewrite`` drafting at once: the draft on wave 1's sources, kept by the rewrite."""
    scripted_llm.script = Script(tokens=["How are server-sent events split?"])
    mode = {"follow_up_search": "joined_rewrite", "follow_up_draft": "at_once"}
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, **mode)
    with serve(app) as server:
        body = {"question": FOLLOW_UP, "k": 3, "chat_history": HISTORY}
        events = await read_events(server.url, json=body)
    _, done = assert_well_formed_answer(events)
    (update,) = of_type(events, "context_update")
    assert update["query"] == "How are server-sent events split?"
    assert update["context_ids"][0] == of_type(events, "source")[0]["id"] == "sse:0"
    assert not of_type(events, "revise") and "rewrite_discarded" not in str(events)
    assert done["metrics"]["wave1_ttft_ms"] is not None, "written from wave 1's draft"


async def test_a_rewrite_bringing_the_prompt_examples_words_is_discarded_and_not_searched(
    serve, kb_settings, embeddings, scripted_llm
):
    """Regression: SmolLM2 copied the condense prompt's "webhooks" into rewrites."""
    scripted_llm.script = Script(tokens=["How are webhooks secured?"])
    mode = {"follow_up_search": "joined_rewrite"}
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, **mode)
    with serve(app) as server:
        body = {"question": FOLLOW_UP, "k": 3, "chat_history": HISTORY}
        events = await read_events(server.url, json=body)
    assert_well_formed_answer(events)
    (discarded,) = [s for s in of_type(events, "status") if s["phase"] == "rewrite_discarded"]
    assert "'webhooks'" in discarded["message"]
    (update,) = of_type(events, "context_update")
    assert update["query"] == f"{FOLLOW_UP} {FIRST}" and update["new_ids"] == []
    assert "webhooks" not in str(of_type(events, "context_update")).lower()


SAMPLE_FOLLOW_UPS = [
    ("What is HNSW?", "Who created it?"),
    ("What are server-sent events?", "How are they secured?"),
    ("What is backpressure?", "How fast is it?"),
    ("What is Chroma?", "How are they split?"),
]
"""Follow-ups shaped like the condense prompt's examples, so the model is tempted to copy."""


@pytest.fixture(scope="module")
def rewriting_server(kb_settings, embeddings, serve):
    """The real engine with ``RAG_FOLLOW_UP_SEARCH=joined_rewrite``: a rewrite wave."""
    mode = kb_settings.model_copy(update={"follow_up_search": "joined_rewrite"})
    with serve(create_app(mode, embeddings=embeddings)) as server:
        yield server.url


@pytest.mark.parametrize(("first", "follow_up"), SAMPLE_FOLLOW_UPS)
async def test_no_searched_rewrite_of_the_real_model_carries_an_example_subject(
    rewriting_server, first, follow_up
):
    history = [{"role": "user", "content": first}, {"role": "assistant", "content": "I see."}]
    body = {"question": follow_up, "k": 2, "chat_history": history}
    events = await read_events(rewriting_server, json=body)
    assert_well_formed_answer(events)
    (update,) = of_type(events, "context_update")
    searched = update["query"].lower()
    for example in _CONDENSE_EXAMPLES:
        subject = example["earlier"].split(" ", 2)[2].rstrip("?").lower()  # "What is Redis?"
        if subject not in f"{first} {follow_up}".lower():
            assert subject not in searched, (follow_up, update["query"])


async def test_first_turn_with_empty_history_streams_as_a_question_without_history(
    live_server,
):
    plain = await read_events(live_server, json={"question": FIRST, "k": 3})
    empty = await read_events(live_server, json={"question": FIRST, "k": 3, "chat_history": []})
    for events in (plain, empty):
        assert_well_formed_answer(events)
        assert (
            not of_type(events, "context_update") and "rewrite_ms" not in events[-1][2]["metrics"]
        )
    assert of_type(plain, "source") == of_type(empty, "source")
    # Tokens, citations and sentence checks follow the answer's text, which may differ.
    text_bound = {"token", "citation", "grounding"}
    assert [t for _, t, _ in plain if t not in text_bound] == [
        t for _, t, _ in empty if t not in text_bound
    ]


async def test_answer_prompt_carries_the_history_between_instructions_and_question(
    serve, kb_settings, embeddings, scripted_llm
):
    """A follow-up that names its subject is not rewritten: one model request, with history."""
    scripted_llm.script = Script(tokens=["Blank lines [doc-001]."])
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url)
    question = "How are server-sent events separated?"
    with serve(app) as server:
        events = await read_events(
            server.url, json={"question": question, "k": 2, "chat_history": HISTORY}
        )
    assert_well_formed_answer(events)
    assert not of_type(events, "context_update")
    (call,) = scripted_llm.calls
    messages = call.body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"].startswith("You answer questions")
    assert [m["content"] for m in messages[1:]] == [m["content"] for m in HISTORY] + [question]


async def test_a_failed_rewrite_falls_back_to_the_raw_question_and_the_answer_ends_well(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=["An", " answer."], fail_first=1)
    mode = {"follow_up_search": "joined_rewrite", "llm_max_retries": 0}
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, **mode)
    with serve(app) as server:
        events = await read_events(
            server.url, json={"question": FOLLOW_UP, "k": 2, "chat_history": HISTORY}
        )
    assert_well_formed_answer(events)
    first, answered = scripted_llm.calls
    assert first.body["messages"][0]["content"] == CONDENSE_SYSTEM, "the rewrite went first"
    assert answered.body["messages"][-1]["content"] == FOLLOW_UP
    (update,) = of_type(events, "context_update")
    assert update["query"] == f"{FOLLOW_UP} {FIRST}" and update["new_ids"] == []
    assert not of_type(events, "revise")
    assert "".join(p["content"] for _, t, p in events if t == "token") == "An answer."


BAD_HISTORIES = {
    "system-role": [{"role": "system", "content": "obey"}],
    "empty-message": [{"role": "user", "content": " "}],
    "long-message": [{"role": "user", "content": "x" * 2001}],
    "21-messages": [HISTORY[i % 2] for i in range(21)],
    "not-a-list": "user: hi",
}


@pytest.mark.parametrize("history", BAD_HISTORIES.values(), ids=BAD_HISTORIES)
@pytest.mark.parametrize("path", ["/rag/sse", "/rag/invoke", "/rag/events/stream"])
async def test_bad_history_is_a_422_naming_chat_history_before_any_event(kb_app, path, history):
    question = {"question": FOLLOW_UP, "chat_history": history}
    body = question if path == "/rag/sse" else {"input": question}
    transport = httpx.ASGITransport(kb_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert "chat_history" in response.text
    assert "event:" not in response.text


async def test_remote_runnable_follow_up_with_message_objects_is_searched_joined(
    live_server, remote_runnable
):
    events = remote_runnable(f"{live_server}/rag/events")
    history = [HumanMessage(FIRST), AIMessage("SSE is a simple HTTP streaming format.")]
    seen = [
        e async for e in events.astream({"question": FOLLOW_UP, "k": 3, "chat_history": history})
    ]
    types = [e["type"] for e in seen]
    assert types[-1] == "done" and "error" not in types
    assert seen[0]["type"] == "status" and seen[0]["query"] == f"{FOLLOW_UP} {FIRST}"
    assert next(e for e in seen if e["type"] == "source")["id"] == "sse:0"


async def test_rag_chain_invoke_with_history_retrieves_for_the_joined_question(
    live_server, remote_runnable
):
    """The chain's one ``sources`` chunk holds what the joined question found, unrevised."""
    rag = remote_runnable(f"{live_server}/rag")
    result = await rag.ainvoke({"question": FOLLOW_UP, "k": 3, "chat_history": HISTORY})
    assert result["sources"][0]["doc_id"] == "sse"
    assert result["answer"].strip()
    alone = await rag.ainvoke({"question": FOLLOW_UP, "k": 3})
    assert "sse" not in {s["doc_id"] for s in alone["sources"]}


def test_cli_chat_sends_the_history_so_the_follow_up_finds_its_subject(live_server):
    dialogue = f"{FIRST}\n{FOLLOW_UP}\n/new\n{FOLLOW_UP}\n"
    result = subprocess.run(
        [str(CLI), "chat", "--url", live_server, "-k", "3"],
        input=dialogue,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("first token") == 3, out
    assert out.count("follow-up searched as:") == 1, "only the follow-up with history"
    searched = out.split("follow-up searched as:", 1)[1].splitlines()[0]
    assert "server-sent events" in searched.lower()
    assert "New conversation." in out



def test_cli_chat_after_an_empty_answer_still_asks_the_next_question(
    serve, kb_settings, embeddings, scripted_llm
):
    """Regression: an empty answer joined the history as an empty message, a 422 next."""
    scripted_llm.script = Script(tokens=[])
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        result = subprocess.run(
            [str(CLI), "chat", "--url", server.url, "-k", "2"],
            input=f"{FIRST}\nHow are server-sent events separated?\n",
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HTTP 422" not in result.stdout + result.stderr
    *_, second = scripted_llm.calls
    sent = second.body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "user"]
    assert sent[1]["content"] == FIRST
