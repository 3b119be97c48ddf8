import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_chat_page_shows_sources_before_the_streamed_answer(page, live_server, tmp_path):
    seen = []
    page.expose_function("record", lambda what: seen.append(what))
    page.goto(f"{live_server}/")
    # Record, in the page itself, whether sources were on screen when text first appeared.
    page.evaluate("""() => new MutationObserver(() => {
        if (document.getElementById('answer').textContent && !window.__recorded) {
            window.__recorded = true;
            window.record(document.querySelectorAll('#sources .source').length);
        }
    }).observe(document.getElementById('answer'), {childList: true, subtree: true,
                                                    characterData: true})""")
    page.fill("#question", "What is backpressure?")
    page.click("#send")
    expect(page.locator("#metrics")).to_contain_text("first token", timeout=60_000)
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)

    assert seen and seen[0] == 4, "the answer started before the sources were shown"
    assert page.locator("#sources .source").first.locator(".cite").inner_text() == "[doc-001]"
    assert page.locator("#answer").inner_text().strip()
    expect(page.locator("#send")).to_be_enabled()


def test_chat_page_reports_a_server_error_event(page, serve, kb_settings, embeddings, unused_port):
    from app.server import create_app

    settings = kb_settings.model_copy(
        update={"llm_base_url": f"http://127.0.0.1:{unused_port}/v1", "llm_model": "any"}
    )
    with serve(create_app(settings, embeddings=embeddings)) as server:
        page.goto(f"{server.url}/")
        page.fill("#question", "What is HNSW?")
        page.click("#send")
        expect(page.locator("#status")).to_contain_text("unreachable", timeout=30_000)
    assert page.locator("#sources .source").count() == 4
