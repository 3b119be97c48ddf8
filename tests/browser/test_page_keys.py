"""The page with scoped keys, in headless Chromium: it shows what the key may do.

Reads are protected; ``handbook`` and ``payroll`` are two teams' knowledge bases. The
page keeps the key for the tab, lists only the knowledge bases the key may read, and
shows the upload area and Delete buttons only where it may write. Real uvicorn, Chroma
and embeddings.
"""

import httpx
import pytest
from playwright.sync_api import expect
from pydantic import SecretStr

from app.server import create_app

pytestmark = pytest.mark.browser

ADMIN = {"Authorization": "Bearer page-admin"}


@pytest.fixture
def teams(serve, settings, embeddings, tmp_path):
    keyed = settings.model_copy(
        update={
            "keys_path": tmp_path / "keys.json",
            "protect_reads": True,
            "api_key": SecretStr("page-admin"),
        }
    )
    app = create_app(keyed, embeddings=embeddings)
    with serve(app) as server, httpx.Client(base_url=server.url, headers=ADMIN) as admin:
        tokens = {}
        for kb, text in (("handbook", "Holidays are booked in the rota."), ("payroll", "Pay day.")):
            assert admin.post("/kbs", json={"name": kb}).status_code == 201
            body = {"kb": kb, "documents": [{"id": f"{kb}-doc", "content": text}]}
            assert admin.post("/index", json=body).status_code == 200
        for name, grants in (
            ("reader", {"read": ["handbook"]}),
            ("writer", {"read": ["handbook"], "write": ["handbook"]}),
        ):
            tokens[name] = admin.post("/keys", json={"name": name, **grants}).json()["key"]
        yield server.url, tokens


def use_key(page, token):
    if page.get_attribute("#api-key-box", "open") is None:
        page.click("#api-key-box summary")
    page.fill("#api-key", token)
    page.click("#api-key-use")


def test_page_lists_only_what_the_key_reads_and_offers_writes_only_where_it_may(page, teams):
    url, tokens = teams
    page.goto(f"{url}/")
    expect(page.locator("#api-key-box")).to_have_attribute("open", "")  # reads need a key
    expect(page.locator("#kb option")).to_have_count(0)

    use_key(page, tokens["reader"])
    expect(page.locator("#kb option")).to_have_count(1)
    assert page.locator("#kb option").all_inner_texts() == ["handbook"]
    expect(page.locator("#doc-list .doc")).to_have_count(1)
    expect(page.locator("#doc-list .doc-delete")).to_have_count(0)
    expect(page.locator("#drop-zone")).to_be_hidden()
    expect(page.locator("#upload-note")).to_be_visible()

    page.reload()  # the key is kept for the tab
    expect(page.locator("#kb option")).to_have_count(1)
    assert page.input_value("#api-key") == tokens["reader"]

    use_key(page, tokens["writer"])
    expect(page.locator("#drop-zone")).to_be_visible()
    expect(page.locator("#doc-list .doc-delete")).to_have_count(1)
    assert "payroll" not in page.content()
