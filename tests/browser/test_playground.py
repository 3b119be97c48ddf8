import json

import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser


def _decode_chunks(text: str) -> list[dict]:
    """The default playground prints each streamed dict chunk as its own JSON object."""
    decoder, chunks, position = json.JSONDecoder(), [], 0
    while position < len(text):
        chunk, position = decoder.raw_decode(text, position)
        chunks.append(chunk)
        while position < len(text) and text[position].isspace():
            position += 1
    return chunks


def _settle(page: Page) -> None:
    """Let the playground's form take the last edit before the next one.

    LangServe's playground hands each edit from JSON Forms to its own state 10 ms later
    (a debounce) and writes that state back into the form when it re-renders; an edit made
    in between is overwritten with the older state (a CI run lost the question typed right
    after k, so Start stayed disabled). A user acts slower than that; the test waits, in
    the page's own clock, past the debounce and the re-render it schedules.
    """
    page.evaluate(
        "() => new Promise(done =>"
        " setTimeout(() => requestAnimationFrame(() => setTimeout(done, 0)), 50))"
    )


def _enter(field: Locator, value: str) -> None:
    field.fill(value)
    _settle(field.page)
    expect(field).to_have_value(value)


def test_playground_streams_sources_then_answer_for_a_typed_question(page, live_server, tmp_path):
    page.goto(f"{live_server}/rag/playground/")
    question = page.locator('textarea[id="#/properties/question-input"]')
    expect(question).to_be_visible(timeout=15_000)
    k = page.locator('input[id="#/properties/k-input"]')
    _enter(k, "2")
    _enter(question, "What is time to first token?")
    expect(k).to_have_value("2")
    start = page.get_by_role("button", name="Start")
    expect(start).to_be_enabled()
    start.click()

    output = page.locator("h2", has_text="Output").locator("xpath=following-sibling::div[1]")
    expect(page.get_by_text('"doc-001"').first).to_be_visible(timeout=60_000)
    expect(page.get_by_text('"answer"').first).to_be_visible(timeout=60_000)
    answer_shown_while_streaming = page.get_by_role("button", name="Stop").is_visible()
    expect(page.get_by_role("button", name="Start")).to_be_visible(timeout=60_000)
    page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)

    chunks = _decode_chunks(output.inner_text())
    assert [s["cite"] for s in chunks[0]["sources"]] == ["doc-001", "doc-002"]
    assert all(set(chunk) == {"answer"} for chunk in chunks[1:])
    assert len(chunks) > 3, "the answer arrived in one piece, not streamed"
    assert "".join(chunk["answer"] for chunk in chunks[1:]).strip()
    assert answer_shown_while_streaming


def test_playground_chat_history_is_a_conversation_that_the_follow_up_is_searched_with(
    page, live_server
):
    """LangServe's message editor: Human and AI turns, sent as ``chat_history``."""
    page.goto(f"{live_server}/rag/playground/")
    question = page.locator('textarea[id="#/properties/question-input"]')
    expect(question).to_be_visible(timeout=15_000)
    _enter(page.locator('input[id="#/properties/k-input"]'), "3")
    history = page.locator("label", has_text="Chat History").locator("xpath=..").locator("xpath=..")
    add = page.locator("label", has_text="Chat History").locator("xpath=..").locator("button")
    turns = ["What are server-sent events?", "SSE is a simple HTTP streaming format."]
    for number, text in enumerate(turns, start=1):
        add.click()
        _settle(page)
        editors = history.locator("textarea:not([id])")
        expect(editors).to_have_count(number)
        _enter(editors.nth(number - 1), text)
    expect(history.locator("select").nth(0)).to_have_value("human")
    expect(history.locator("select").nth(1)).to_have_value("ai")
    _enter(question, "How are they split?")
    start = page.get_by_role("button", name="Start")
    expect(start).to_be_enabled()
    start.click()

    output = page.locator("h2", has_text="Output").locator("xpath=following-sibling::div[1]")
    expect(page.get_by_text('"answer"').first).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name="Start")).to_be_visible(timeout=60_000)
    chunks = _decode_chunks(output.inner_text())
    assert chunks[0]["sources"][0]["doc_id"] == "sse", "searched with the first question"
