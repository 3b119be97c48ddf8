"""The chat page marks the sentences the grounding check did not find in the sources.

Headless Chromium on the real app and sample knowledge base; the scripted model sends
one sentence copied from the retrieved document and one invented, so which one must be
marked is known.
"""

import pytest
from playwright.sync_api import expect
from sse_helpers import scripted_app

from bench.scripted_llm import Script

pytestmark = pytest.mark.browser

INVENTED = "The moon is made of green cheese and orbits Jupiter every Tuesday."


def test_an_unsupported_sentence_is_marked_with_its_closest_source_on_focus(
    page, serve, kb_settings, embeddings, scripted_llm
):
    copied = ["Backpressure means a slow", " consumer slows down the producer [doc-00", "1]."]
    invented = [" The moon is made of", " green cheese and", " orbits Jupiter every Tuesday."]
    scripted_llm.script = Script(tokens=[*copied, *invented])
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        page.goto(f"{server.url}/")
        expect(page.locator("body")).to_have_attribute("data-stream", "idle")
        page.fill("#question", "What is backpressure?")
        page.press("#question", "Enter")
        expect(page.locator("body")).to_have_attribute("data-stream", "done", timeout=60_000)

        marks = page.locator("#answer mark.unsupported")
        expect(marks).to_have_count(1)
        expect(marks.first).to_have_text(INVENTED)
        note = marks.first.get_attribute("data-note")
        assert note.startswith("Not supported by the sources; closest: doc-00")
        expect(page.locator("#answer a.cite-link")).to_have_text(["doc-001"])
        # The note is there for a keyboard and a screen reader too, not only on hover.
        marks.first.focus()
        expect(marks.first).to_be_focused()
        shown = marks.first.evaluate("m => getComputedStyle(m, '::after').content")
        assert note in shown
        described = page.locator(f"#{marks.first.get_attribute('aria-describedby')}")
        expect(described).to_have_text(note)
        expect(described).to_be_hidden()  # a description, not part of the answer's text
        expect(page.locator("#status")).to_contain_text("1 of 2 sentences supported by the sources")
