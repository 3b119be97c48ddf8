"""The chat page in headless Chromium: sources first, citations, Stop, errors, waves.

The real model answers wherever the behaviour does not depend on exact tokens or
timing. The scripted model server forces what the real one cannot be made to do on
demand: an answer that cites a given key (and one that was never retrieved), an answer
slow enough to be stopped, an answer that dies.
"""

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sse_helpers import ConnectionCutter, scripted_app

from bench.scripted_llm import Script

pytestmark = pytest.mark.browser

DOCS_SCREENSHOT = Path("docs/page-mid-stream.png")
"""The README's screenshot; written when ``UPDATE_DOCS_SCREENSHOT=1`` is set."""


def open_page(page, url):
    page.goto(f"{url}/")
    expect(page.locator("body")).to_have_attribute("data-stream", "idle")


def ask(page, question, *, progressive=False):
    page.fill("#question", question)
    if progressive:
        page.check("#progressive")
    page.press("#question", "Enter")


def wait_until_ended(page, state="done", timeout=60_000):
    expect(page.locator("body")).not_to_have_attribute("data-stream", "running", timeout=timeout)
    expect(page.locator("body")).to_have_attribute("data-stream", state)


def test_chat_page_shows_sources_before_the_streamed_answer(page, live_server, tmp_path):
    seen = []
    page.expose_function("record", lambda what: seen.append(what))
    open_page(page, live_server)
    # Record, in the page itself, how many cards were on screen when text first appeared.
    page.evaluate("""() => new MutationObserver(() => {
        if (document.getElementById('answer').textContent && !window.__recorded) {
            window.__recorded = true;
            window.record(document.querySelectorAll('#sources .source').length);
        }
    }).observe(document.getElementById('answer'), {childList: true, subtree: true,
                                                    characterData: true})""")
    ask(page, "What is backpressure?")
    # Polled from here: wait_for_function compiles its predicate with eval, which the
    # page's Content-Security-Policy refuses (as it should).
    expect(page.locator("#answer")).to_have_text(re.compile(r"[\s\S]{81,}"), timeout=60_000)
    shot = tmp_path / "mid-stream.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copy(shot, DOCS_SCREENSHOT)
    wait_until_ended(page)

    assert seen and seen[0] == 4, "the answer started before the sources were shown"
    first = page.locator("#sources .source").first
    assert first.locator(".cite").inner_text() == "[doc-001]"
    assert first.locator(".title").inner_text() == "sample_docs/backpressure.md"
    for metric in ("#metric-ttfs", "#metric-ttft", "#metric-total"):
        assert page.locator(metric).inner_text().endswith(" ms")
    assert page.locator("#metric-rate").inner_text().endswith("tok/s")
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#stop")).to_be_disabled()


CITING = [
    "Backpressure ",
    "slows ",
    "the **producer** ",
    "[doc",
    "-001]",
    " and ",
    '<img src=x onerror="window.__pwned=1">',
    "not [doc-009].",
    "\n\n`[doc-002]`",
]
"""A valid key split across tokens, Markdown, injected HTML, an invalid key, and a key
inside code (which stays text)."""


def test_citation_link_highlights_its_card_and_an_invalid_key_is_flagged_inline(
    page, serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=CITING)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        open_page(page, server.url)
        ask(page, "What is backpressure?")
        wait_until_ended(page)
        link = page.locator("#answer a.cite-link")
        expect(link).to_have_count(1)
        assert link.inner_text() == "doc-001" and link.get_attribute("href") == "#src-doc-001"
        card = page.locator("#src-doc-001")
        expect(card).to_have_class("source cited")
        page.locator("#sources").evaluate("el => el.lastElementChild.scrollIntoView()")
        link.click()
        expect(card).to_have_class("source cited highlight")
        expect(card).to_be_focused()
        expect(card).to_be_in_viewport()

        invalid = page.locator("#answer mark.cite-invalid")
        expect(invalid).to_have_count(1)
        assert invalid.get_attribute("data-cite") == "doc-009"
        assert "not among the sources" in invalid.inner_text()
        assert page.locator("#answer strong").inner_text() == "producer"
        assert page.locator("#answer code").inner_text() == "[doc-002]"
        assert page.locator("#answer img").count() == 0
        assert "<img src=x" in page.locator("#answer").inner_text(), "HTML shows as text"
        assert page.evaluate("window.__pwned") is None


@pytest.mark.parametrize("how", ["button", "escape"])
def test_stop_ends_the_stream_and_the_model_server_sees_the_request_end(
    page, serve, kb_settings, embeddings, scripted_llm, how
):
    scripted_llm.script = Script(tokens=400, rate=20)  # 20 s if nobody stopped it
    # A grace longer than the whole answer: only Stop's cancel can end it early.
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, resume_grace_s=30)
    with serve(app) as server:
        open_page(page, server.url)
        ask(page, "What is backpressure?")
        expect(page.locator("#answer")).to_contain_text("w3", timeout=30_000)
        if how == "button":
            page.click("#stop")
        else:
            page.keyboard.press("Escape")
        wait_until_ended(page, "stopped")
        expect(page.locator("#status")).to_have_text("Stopped.")
        deadline = time.monotonic() + 15  # only catches a hang
        while scripted_llm.calls[-1].ended is None and time.monotonic() < deadline:
            time.sleep(0.02)
    call = scripted_llm.calls[-1]
    assert call.client_disconnected and call.tokens_sent < 400
    assert page.locator("#metric-total").inner_text() == "\u2013", "a stopped stream has no done"
    expect(page.locator("#send")).to_be_enabled()


def test_a_dropped_connection_resumes_and_the_answer_completes_without_asking_again(
    page, serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=60, rate=30)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        cutter = ConnectionCutter(server.port, tokens=5)
        try:
            open_page(page, cutter.url)
            ask(page, "What is backpressure?")
            wait_until_ended(page)
        finally:
            cutter.close()
    assert cutter.cuts == 1, "the connection was not cut"
    expected = "".join(Script(tokens=60).deltas()).strip()
    assert page.locator("#answer").inner_text().strip() == expected
    assert len(scripted_llm.calls) == 1, "the question was asked again instead of resumed"


def test_an_error_mid_stream_shows_a_message_and_retry_asks_again(
    page, serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=40, die_after=5)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        open_page(page, server.url)
        ask(page, "What is backpressure?")
        wait_until_ended(page, "failed")
        expect(page.locator("#error")).to_be_visible()
        message = page.locator("#error-message").inner_text()
        assert "Traceback" not in message and len(message) > 10
        assert page.locator("#sources .source").count() == 4, "sources sent stay on screen"

        scripted_llm.script = Script(tokens=["Fine ", "now."])
        page.click("#retry")
        wait_until_ended(page)
    expect(page.locator("#error")).to_be_hidden()
    assert page.locator("#answer").inner_text().strip() == "Fine now."
    assert len(scripted_llm.calls) == 2


def test_chat_page_reports_an_unreachable_model_server(
    page, serve, kb_settings, embeddings, unused_port
):
    base_url = f"http://127.0.0.1:{unused_port}/v1"
    with serve(scripted_app(kb_settings, embeddings, base_url)) as server:
        open_page(page, server.url)
        ask(page, "What is HNSW?")
        wait_until_ended(page, "failed", timeout=30_000)
    expect(page.locator("#error-message")).to_contain_text("unreachable")
    assert page.locator("#sources .source").count() == 4


def test_progressive_mode_adds_wave_cards_and_a_revise_clears_the_draft(page, live_server):
    """Real model, real waves: BM25 ranks first the one chunk naming the callback."""
    seen_revise_with_empty_answer = []
    page.expose_function("record", lambda what: seen_revise_with_empty_answer.append(what))
    open_page(page, live_server)
    page.evaluate("""() => new MutationObserver(() => {
        const notice = document.getElementById('revised');
        if (!notice.hidden && !window.__recorded) {
            window.__recorded = true;
            window.record(document.getElementById('answer').textContent);
        }
    }).observe(document.getElementById('revised'), {attributes: true})""")
    ask(page, "What does on_llm_new_token do?", progressive=True)
    wait_until_ended(page)
    waves = page.locator("#sources .source[data-wave='2']")
    assert waves.count() >= 1
    assert waves.first.locator(".wave").inner_text() == "wave 2"
    expect(page.locator("#revised")).to_be_visible()
    assert seen_revise_with_empty_answer == [""], "the draft was not cleared at the revise"
    assert page.locator("#answer").inner_text().strip()
