"""The page as a conversation in headless Chromium: a thread of turns, each with its own
sources; follow-ups carry the history; it survives a reload and a resume; New chat."""

import json
import re

import pytest
from playwright.sync_api import expect
from sse_helpers import ConnectionCutter, scripted_app

from bench.scripted_llm import Script
from chains.rag import NOT_IN_KNOWLEDGE_BASE

pytestmark = pytest.mark.browser

FIRST = "What are server-sent events?"
FOLLOW_UP = "How are they split?"


def open_page(page, url):
    page.goto(f"{url}/")
    expect(page.locator("body")).to_have_attribute("data-stream", "idle")


def ask(page, question):
    page.fill("#question", question)
    page.press("#question", "Enter")
    expect(page.locator("body")).not_to_have_attribute("data-stream", "running", timeout=60_000)
    expect(page.locator("body")).to_have_attribute("data-stream", "done")


def sent_bodies(page):
    """The JSON body of every ``POST /rag/sse`` the page sends, in order."""
    bodies = []
    page.on(
        "request",
        lambda r: (
            bodies.append(json.loads(r.post_data))
            if r.method == "POST" and r.url.endswith("/rag/sse")
            else None
        ),
    )
    return bodies


def test_follow_up_keeps_the_first_turn_on_screen_and_finds_its_subject(page, live_server):
    bodies = sent_bodies(page)
    open_page(page, live_server)
    ask(page, FIRST)
    first_answer = page.locator("#answer").inner_text().strip()
    first_cards = page.locator("#sources .source").count()
    ask(page, FOLLOW_UP)

    turn = page.locator("#thread .turn")
    expect(turn).to_have_count(1)
    expect(turn.locator(".turn-question")).to_have_text(FIRST)
    expect(turn.locator(".source")).to_have_count(first_cards)
    expect(page.locator("#t1-src-doc-001")).to_be_visible()
    assert turn.locator(".turn-answer").inner_text().strip() == first_answer
    expect(page.locator("#asked")).to_have_text(FOLLOW_UP)
    titles = page.locator("#sources .source .title").all_inner_texts()
    assert "sample_docs/sse.md" in titles, f"found joined to the first question: {titles}"

    assert "chat_history" not in bodies[0]
    assert bodies[1]["chat_history"] == [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": bodies[1]["chat_history"][1]["content"]},
    ]
    assert bodies[1]["chat_history"][1]["content"].strip(), "the first answer went along"

    page.reload()
    expect(page.locator("body")).to_have_attribute("data-stream", "idle")
    expect(page.locator("#thread .turn")).to_have_count(2)
    expect(page.locator("#thread .turn .turn-question")).to_have_text([FIRST, FOLLOW_UP])
    expect(page.locator("#t2-src-doc-001")).to_be_visible()

    page.click("#new-chat")
    expect(page.locator("#thread")).to_be_hidden()
    expect(page.locator("#thread .turn")).to_have_count(0)
    ask(page, "What is backpressure?")
    assert "chat_history" not in bodies[-1]
    page.reload()
    expect(page.locator("#thread .turn")).to_have_count(1)


def test_an_answer_resumed_after_a_drop_joins_the_history_of_the_next_question(
    page, serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=40, rate=40)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        cutter = ConnectionCutter(server.port, tokens=5)
        try:
            open_page(page, cutter.url)
            ask(page, FIRST)
            ask(page, "How are server-sent events separated?")
        finally:
            cutter.close()
    assert cutter.cuts == 1, "the connection was not cut"
    resumed = "".join(Script(tokens=40).deltas()).strip()
    follow_up = scripted_llm.calls[-1].body["messages"]
    assert [m["role"] for m in follow_up] == ["system", "user", "assistant", "user"]
    assert follow_up[1]["content"] == FIRST and follow_up[2]["content"] == resumed


def test_a_declined_question_reads_as_a_decline_now_and_in_the_thread(page, live_server):
    """Regression: a decline has no token events, so the page showed an empty answer."""
    open_page(page, live_server)
    ask(page, "Who painted the Mona Lisa?")
    expect(page.locator("#answer")).to_have_text(NOT_IN_KNOWLEDGE_BASE)
    assert page.locator("#sources .source").count() == 0
    ask(page, "What is backpressure?")
    expect(page.locator("#thread .turn .turn-answer")).to_have_text(NOT_IN_KNOWLEDGE_BASE)


def test_an_earlier_turn_keeps_its_citation_links_to_its_own_cards(
    page, serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=["Blank lines ", "separate them [doc-", "001]."])
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        open_page(page, server.url)
        ask(page, FIRST)
        ask(page, "How are server-sent events separated?")
    link = page.locator("#thread .turn .turn-answer a.cite-link")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "#t1-src-doc-001")
    expect(page.locator("#t1-src-doc-001")).to_have_class(re.compile(r"\bcited\b"))
    link.click()
    expect(page.locator("#t1-src-doc-001")).to_have_class(re.compile(r"\bhighlight\b"))
