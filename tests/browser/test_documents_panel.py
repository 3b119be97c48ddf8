"""The page's Documents panel and knowledge-base selector in headless Chromium.

Real Chroma (a collection of the test's own), embeddings and model: what the panel
lists, opens and deletes is what the API holds, and a question asked with another
knowledge base selected is answered from that one's documents.
"""

import httpx
import pytest
from playwright.sync_api import expect

from app.server import create_app

pytestmark = pytest.mark.browser

HERONS = (
    "The grey heron colony of Quillon Bay nests in the alder trees above the tide line.\n"
    "Each spring about forty pairs raise their chicks there.\n"
)
TIDES = "Tide tables for Quillon Bay are posted at the harbour office every Monday.\n"
LEDGER = "Error ZQX-4471 means the okapi ledger lost its write lock while a batch was open.\n"


@pytest.fixture
def documents_app(settings, embeddings):
    return create_app(settings, embeddings=embeddings)


def seed(url):
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/kbs", json={"name": "birds"}).raise_for_status()
        client.post(
            "/index", json={"kb": "birds", "documents": [{"id": "herons", "content": HERONS}]}
        ).raise_for_status()
        client.post(
            "/index",
            json={
                "documents": [
                    {"id": "tides", "content": TIDES, "metadata": {"title": "Tide tables"}},
                    {"id": "ledger", "content": LEDGER},
                ]
            },
        ).raise_for_status()


def listed(page):
    return page.locator("#doc-list .doc").evaluate_all("rows => rows.map(r => r.dataset.docId)")


def test_documents_panel_lists_searches_opens_and_deletes_after_confirming(
    page, serve, documents_app
):
    with serve(documents_app) as server:
        seed(server.url)
        page.goto(f"{server.url}/")
        expect(page.locator("#doc-count")).to_have_text("1 to 2 of 2 document(s)")
        assert listed(page) == ["ledger", "tides"]
        assert page.locator("#doc-list .doc .doc-name").nth(1).inner_text() == "Tide tables"

        page.fill("#doc-search", "tid")
        expect(page.locator("#doc-count")).to_have_text("1 to 1 of 1 document(s)")
        page.fill("#doc-search", "")
        expect(page.locator("#doc-count")).to_have_text("1 to 2 of 2 document(s)")

        page.get_by_role("button", name="Open tides").click()
        expect(page.locator("#doc-detail")).to_be_visible()
        expect(page.locator("#doc-detail .doc-chunk p")).to_have_text(TIDES.strip())
        expect(page.locator("#doc-detail .chunk-id")).to_have_text("tides:0 at 0")

        page.once("dialog", lambda dialog: dialog.dismiss())
        page.get_by_role("button", name="Delete ledger").click()
        page.wait_for_timeout(300)  # a dismissed confirmation sends nothing
        assert listed(page) == ["ledger", "tides"]

        messages = []
        page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
        page.get_by_role("button", name="Delete ledger").click()
        expect(page.locator("#doc-count")).to_have_text("1 to 1 of 1 document(s)")
        assert listed(page) == ["tides"]
        assert "ledger" in messages[0]
        left = httpx.get(f"{server.url}/documents").json()
    assert [d["id"] for d in left["documents"]] == ["tides"]


def test_the_chosen_knowledge_base_answers_questions_and_fills_the_panel(
    page, serve, documents_app
):
    with serve(documents_app) as server:
        seed(server.url)
        page.goto(f"{server.url}/")
        expect(page.locator("#kb option")).to_have_count(2)
        assert page.locator("#kb option").all_inner_texts() == ["streaming_rag (default)", "birds"]
        page.select_option("#kb", "birds")
        expect(page.locator("#doc-count")).to_have_text("1 to 1 of 1 document(s)")
        assert listed(page) == ["herons"]

        page.fill("#question", "Where do the herons of Quillon Bay nest?")
        page.press("#question", "Enter")
        expect(page.locator("body")).to_have_attribute("data-stream", "done", timeout=60_000)
        titles = page.locator("#sources .source .title").all_inner_texts()
    assert titles and set(titles) == {"herons"}
