"""Uploads over HTTP (``POST /index/files/sse``): real loaders, Chroma and embeddings."""

import httpx
import pytest
from sse_helpers import read_events

from app.server import create_app

pytestmark = pytest.mark.anyio

STAGES = ["received", "chunked", "embedding", "embedded", "indexing", "ready"]

HTML = b"""<html><head><title>Heron guide</title><script>var x = "do not index";</script>
</head><body><h1>Herons</h1><p>The grey heron Quillon nests beside the index.</p></body></html>"""


@pytest.fixture
def app(settings, embeddings):
    return create_app(settings, embeddings=embeddings)


async def upload(url, files):
    """The payloads of one upload's stream."""
    events = await read_events(url, path="/index/files/sse", files=[("files", f) for f in files])
    return [payload for _, _, payload in events]


def of_type(events, name):
    return [e for e in events if e["type"] == name]


async def test_uploaded_files_of_each_type_reach_ready_and_are_searchable(
    serve, app, tmp_path, write_pdf
):
    pdf = write_pdf(tmp_path / "tides.pdf", ["Spring tides at Quillon Bay reach nine metres."])
    files = [
        ("notes.md", b"# Notes\n\nThe **cormorant** Brindle fishes at dawn.", "text/markdown"),
        ("herons.html", HTML, "text/html"),
        ("tides.pdf", pdf.read_bytes(), "application/pdf"),
        ("plain.txt", "Ümlauts and emoji ☕ survive the upload.".encode(), "text/plain"),
    ]
    with serve(app) as server:
        events = await upload(server.url, files)
        assert events[0] == {"type": "pipeline_start", "total_docs": 4}
        for index in range(4):
            stages = [e["stage"] for e in of_type(events, "doc_stage") if e["index"] == index]
            assert stages == STAGES, f"file {index} moved through {stages}"
        assert events[-1]["type"] == "pipeline_done" and events[-1]["indexed"] == 4

        store = app.state.services.store
        stored = store.get(where={"source": "herons.html"}, include=["documents"])["documents"]
        assert "Quillon nests" in " ".join(stored) and "do not index" not in " ".join(stored)
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            body = {"input": {"question": "How high are the spring tides?", "k": 1}}
            answer = (await client.post("/rag/invoke", json=body)).json()["output"]
    assert answer["sources"][0]["metadata"]["source"] == "tides.pdf"


async def test_uploading_a_file_of_the_same_name_replaces_it(app, serve):
    with serve(app) as server:
        await upload(server.url, [("faq.md", b"Refunds take 30 days.", "text/markdown")])
        events = await upload(server.url, [("faq.md", b"Refunds take 14 days.", "text/markdown")])
    store = app.state.services.store
    stored = store.get(where={"source": "faq.md"}, include=["documents"])["documents"]
    assert stored == ["Refunds take 14 days."]
    assert of_type(events, "pipeline_done")[0]["collection_size"] == 1


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("tool.exe", b"MZ\x90\x00", "unsupported file type '.exe'"),
        ("latin1.txt", "caf\xe9".encode("latin-1"), "latin1.txt is not UTF-8 text"),
        ("broken.pdf", b"%PDF-1.4 this is not a pdf", "broken.pdf is not a readable PDF"),
        ("empty.md", b"   \n", "must not be empty"),
    ],
)
async def test_an_unloadable_upload_is_its_own_doc_error_and_the_others_are_indexed(
    app, serve, name, data, reason
):
    files = [(name, data, "application/octet-stream"), ("ok.txt", b"A fine file.", "text/plain")]
    with serve(app) as server:
        events = await upload(server.url, files)
    errors = of_type(events, "doc_error")
    assert [e["index"] for e in errors] == [0] and reason in errors[0]["error"]
    assert [e["index"] for e in of_type(events, "doc_stage") if e["stage"] == "ready"] == [1]
    assert events[-1]["indexed"] == 1 and events[-1]["failed"] == 1


async def test_uploads_need_the_api_key_when_one_is_set(tmp_path, settings_factory, embeddings):
    app = create_app(
        settings_factory(chroma_path=tmp_path / "chroma", api_key="s3cret"), embeddings=embeddings
    )
    files = {"files": ("a.txt", b"text", "text/plain")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        refused = await c.post("/index/files/sse", files=files)
        assert refused.status_code == 401
        async with c.stream(
            "POST", "/index/files/sse", files=files, headers={"Authorization": "Bearer s3cret"}
        ) as ok:
            body = (await ok.aread()).decode()
    assert ok.status_code == 200 and '"stage":"ready"' in body.replace(" ", "")


async def test_an_upload_without_files_is_422(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        response = await c.post("/index/files/sse", data={"other": "x"})
    assert response.status_code == 422
