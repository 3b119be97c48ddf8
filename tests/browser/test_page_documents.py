"""The page's document tools in headless Chromium: upload with live stages, summarize.

Real loaders, Chroma, embeddings and model: the app starts on an empty collection of
its own, so what the page uploads is the only thing it can find.
"""

import pytest
from playwright.sync_api import expect

from app.server import create_app

pytestmark = pytest.mark.browser

STAGES = ["received", "chunked", "embedding", "embedded", "indexing", "ready"]

HERONS = """# Herons of Quillon Bay

The grey heron colony of Quillon Bay nests in the alder trees above the tide line.
Each spring about forty pairs raise their chicks there, and the wardens count them.
"""


@pytest.fixture
def documents_app(settings, embeddings):
    return create_app(settings, embeddings=embeddings)


def record_stages(page):
    """Keep, in the page, every stage text each upload row showed, in order."""
    page.evaluate("""() => {
        window.__stages = {};
        new MutationObserver(() => {
            for (const row of document.querySelectorAll('#uploads .upload')) {
                const name = row.querySelector('.name').textContent;
                const seen = (window.__stages[name] ||= []);
                const stage = row.querySelector('.stage').textContent;
                if (seen[seen.length - 1] !== stage) seen.push(stage);
            }
        }).observe(document.getElementById('uploads'),
                   {childList: true, subtree: true, characterData: true});
    }""")


def test_uploaded_file_reaches_ready_live_and_is_a_source_of_the_next_answer(
    page, serve, documents_app, tmp_path, write_pdf
):
    notes = tmp_path / "herons.md"
    notes.write_text(HERONS, encoding="utf-8")
    pdf = write_pdf(tmp_path / "tides.pdf", ["Spring tides at the harbour reach nine metres."])
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with serve(documents_app) as server:
        page.goto(f"{server.url}/")
        record_stages(page)
        page.set_input_files("#files", [str(notes), str(pdf), str(bad)])
        rows = page.locator("#uploads .upload")
        expect(rows).to_have_count(3)
        for name in ("herons.md", "tides.pdf"):
            row = rows.filter(has_text=name)
            expect(row).to_have_attribute("data-state", "ready", timeout=30_000)
            assert row.locator("progress").get_attribute("value") == str(len(STAGES))
        failed = rows.filter(has_text="latin1.txt")
        expect(failed).to_have_attribute("data-state", "failed")
        expect(failed.locator(".stage")).to_contain_text("is not UTF-8 text")

        stages = page.evaluate("window.__stages['herons.md']")
        assert [s.split(" ")[0] for s in stages] == ["waiting", *STAGES], stages

        page.fill("#question", "Where do the grey herons nest?")
        page.press("#question", "Enter")
        expect(page.locator("body")).to_have_attribute("data-stream", "done", timeout=60_000)
    first = page.locator("#sources .source").first
    assert first.locator(".title").inner_text() == "herons.md"
    assert "alder trees" in first.locator(".snippet").inner_text()


def test_without_a_write_key_the_upload_area_says_so_and_a_key_opens_it(
    page, serve, tmp_path, settings_factory, embeddings
):
    app = create_app(
        settings_factory(chroma_path=tmp_path / "chroma", api_key="s3cret"), embeddings=embeddings
    )
    notes = tmp_path / "notes.txt"
    notes.write_text("Keyed upload.", encoding="utf-8")
    with serve(app) as server:
        page.goto(f"{server.url}/")
        expect(page.locator("#upload-note")).to_be_visible()
        expect(page.locator("#drop-zone")).to_be_hidden()
        page.set_input_files("#files", str(notes))  # a script could still send one
        row = page.locator("#uploads .upload")
        expect(row).to_have_attribute("data-state", "failed")
        expect(row.locator(".stage")).to_contain_text("a valid API key is required")
        expect(page.locator("#api-key-box")).to_have_attribute("open", "")

        page.fill("#api-key", "s3cret")
        page.click("#api-key-use")
        expect(page.locator("#drop-zone")).to_be_visible()
        expect(page.locator("#upload-note")).to_be_hidden()
        page.set_input_files("#files", str(notes))
        expect(page.locator("#uploads .upload").first).to_have_attribute(
            "data-state", "ready", timeout=30_000
        )


def test_summarize_on_a_source_card_streams_the_summary_into_the_panel(
    page, serve, documents_app, tmp_path
):
    notes = tmp_path / "herons.md"
    notes.write_text(HERONS, encoding="utf-8")
    with serve(documents_app) as server:
        page.goto(f"{server.url}/")
        page.set_input_files("#files", str(notes))
        expect(page.locator("#uploads .upload")).to_have_attribute(
            "data-state", "ready", timeout=30_000
        )
        page.fill("#question", "How many heron pairs nest there?")
        page.press("#question", "Enter")
        expect(page.locator("body")).to_have_attribute("data-stream", "done", timeout=60_000)

        page.locator("#sources .source").first.locator("button.summarize").click()
        panel = page.locator("#summary-panel")
        expect(panel).to_be_visible()
        expect(page.locator("#summary-title")).to_contain_text("herons")
        expect(page.locator("#summary-status")).to_contain_text("Done in", timeout=60_000)
    assert page.locator("#summary-progress").get_attribute("value") == "100"
    assert page.locator("#summary-text").inner_text().strip()
