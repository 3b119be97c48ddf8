"""The page at phone width, with the keyboard alone, and under axe-core's checks.

axe-core comes from the npm registry with the page's libraries (``make`` installs it in
the venv, next to them); it runs inside the page after a real answer, so the cards,
citations and footer it checks are the ones people see.
"""

import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sse_helpers import scripted_app

from bench.scripted_llm import Script

pytestmark = pytest.mark.browser

AXE = Path(sys.prefix) / "npm" / "node_modules" / "axe-core" / "axe.min.js"

ANSWER = ["Backpressure ", "slows the producer ", "[doc-001]", " but not ", "[doc-007]", "."]


@pytest.fixture
def page(new_page):
    """A page that lets the test inject axe-core as an inline script.

    The page's Content-Security-Policy forbids inline scripts (as it should), so only
    this checker's context bypasses it; every other browser test runs under the policy.
    """
    return new_page(bypass_csp=True)


@pytest.fixture
def answered_page(page, serve, kb_settings, embeddings, scripted_llm):
    """The page after one answer with a valid and an invalid citation."""
    scripted_llm.script = Script(tokens=ANSWER)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        page.goto(f"{server.url}/")
        page.fill("#question", "What is backpressure?")
        page.press("#question", "Enter")
        expect(page.locator("body")).to_have_attribute("data-stream", "done", timeout=60_000)
        expect(page.locator("#answer a.cite-link")).to_have_count(1)
        yield page


def serious_violations(page):
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make install-test`")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    assert result["testEngine"]["name"] == "axe-core" and result["passes"], "axe did not run"
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_page_passes_axe_with_no_serious_violations(answered_page):
    answered_page.locator("#sources .source .expand").first.click()
    assert serious_violations(answered_page) == []


def test_page_at_phone_width_has_no_horizontal_scroll(answered_page, tmp_path):
    page = answered_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#sources .source .expand").first.click()
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide at a 390 px viewport"
    for selector in ("#ask", "#sources", "#answer", "#drop-zone", "#metrics"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, selector


def tab_to(page, target, most=60):
    """Press Tab until ``target`` has the focus: it must be reachable from the keyboard."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{target} is not reachable with Tab")


def test_page_works_with_the_keyboard_alone(answered_page):
    page = answered_page
    page.goto(page.url)  # a fresh page, the focus at its start
    expect(page.locator("body")).to_have_attribute("data-stream", "idle")
    page.keyboard.press("Tab")
    expect(page.locator("#question")).to_be_focused()
    page.keyboard.type("What is backpressure?")
    page.keyboard.press("Enter")
    expect(page.locator("body")).to_have_attribute("data-stream", "done", timeout=60_000)

    link = page.locator("#answer a.cite-link")
    tab_to(page, link)
    page.keyboard.press("Enter")
    expect(page.locator("#src-doc-001")).to_be_focused()
    expect(page.locator("#src-doc-001")).to_have_class("source cited highlight")

    page.keyboard.press("Tab")  # the card's first control
    expand = page.locator("#src-doc-001 .expand")
    expect(expand).to_be_focused()
    page.keyboard.press("Enter")
    expect(expand).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#src-doc-001 .full")).to_be_visible()

    page.keyboard.press("Tab")
    expect(page.locator("#src-doc-001 .summarize")).to_be_focused()
