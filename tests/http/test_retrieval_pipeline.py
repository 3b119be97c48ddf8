"""The retrieval pipeline over HTTP: headed chunks, sources per document, merged sources.

Documents go in through ``POST /index`` into a fresh Chroma; answers come from
``POST /rag/sse``. The scripted model server writes an answer that copies a sentence of
a merged source and cites it, which the real model cannot be made to do on demand.
"""

import re

import httpx
import numpy as np
import pytest
from sse_helpers import of_type, read_events, scripted_app, tokens_of

from bench.scripted_llm import Script
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store

pytestmark = pytest.mark.anyio

REFERENCE = """# git-shelve(1)

git-shelve - Put unfinished changes aside and bring them back later

## Options

--keep-index
    All changes already added to the index are left intact.

--include-untracked
    Files nobody added are put aside as well, then removed from the working tree.
"""

MANUAL_LINE = (
    "Herons wade through shallow marsh water on long legs, and the manual returns to "
    "herons on every page because herons are its whole subject. "
)
FOODS = "eels frogs voles mackerel crayfish newts perch roach minnows beetles shrimp tadpoles"
RINGED = re.compile(r"The heron ringed in part \d+ ate [a-z]+ every morning at the lake\.")
MANUAL = "# The heron manual\n\n" + "\n\n".join(
    f"Part {n}. {MANUAL_LINE * 2}The heron ringed in part {n} ate {food} every morning at the lake."
    for n, food in enumerate(FOODS.split())
)
SHORT = {
    "egrets": "Egrets are herons too: white herons that wade in shallow water.",
    "bitterns": "Bitterns are shy herons of reed beds that freeze when watched.",
    "storks": "Storks are not herons, though they wade in shallow water as herons do.",
}
QUESTION = {"question": "Which herons wade in shallow marsh water?", "k": 4}


HERON_DOCS = [
    {"id": "manual", "content": MANUAL},
    *({"id": doc_id, "content": text} for doc_id, text in SHORT.items()),
]


def manual_app(settings, embeddings, scripted_llm):
    """An app on the scripted model whose 400-character chunks split the manual finely."""
    return scripted_app(
        settings.model_copy(update={"chunk_size": 400}), embeddings, scripted_llm.base_url
    )


async def index(url: str, docs: list[dict[str, object]]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        response = await client.post("/index", json={"documents": docs})
    assert response.status_code == 200, response.text
    assert response.json()["failed"] == 0


async def test_a_chunk_is_stored_with_the_vector_of_its_header_and_shown_without_it(
    serve, settings, embeddings, scripted_llm
):
    small = {"chunk_size": 150, "chunk_overlap": 0, "min_score": 0.0, "sources_per_document": 0}
    app = scripted_app(settings.model_copy(update=small), embeddings, scripted_llm.base_url)
    with serve(app) as server:
        await index(server.url, [{"id": "git-shelve", "content": REFERENCE}])
        scripted_llm.script = Script(tokens=["Use --keep-index."])
        events = await read_events(
            server.url, json={"question": "How do I keep what I already staged?", "k": 4}
        )
    [source] = [s for s in of_type(events, "source") if "--include-untracked" in s["content"]]
    assert "git-shelve(1)" not in source["content"]
    context = source["metadata"]["context"]
    assert context == (
        "git-shelve(1) > Options\n"
        "git-shelve - Put unfinished changes aside and bring them back later"
    )
    store = build_chroma_client(path=settings.chroma_path).get_collection(settings.collection)
    stored = store.get(ids=[source["id"]], include=["embeddings", "documents", "metadatas"])
    vector = np.asarray(stored["embeddings"][0])
    chunk = stored["documents"][0]
    with_header = np.asarray(embeddings.embed_documents([f"{context}\n\n{chunk}"])[0])
    alone = np.asarray(embeddings.embed_documents([chunk])[0])
    assert float(vector @ with_header) > 0.999
    assert float(vector @ alone) < 0.99


async def test_one_long_document_gives_its_place_to_others_and_its_neighbours_merge(
    serve, settings, embeddings, scripted_llm
):
    with serve(manual_app(settings, embeddings, scripted_llm)) as server:
        await index(server.url, HERON_DOCS)
        scripted_llm.script = Script(tokens=["Herons wade."])
        capped = of_type(await read_events(server.url, json=QUESTION), "source")
    store = build_vector_store(
        build_chroma_client(path=settings.chroma_path), settings.collection, embeddings
    )
    ranked = ScoredRetriever(vectorstore=store, title_weight=settings.title_weight)
    ranked.warm()
    uncapped = [hit.metadata for hit in ranked.invoke(QUESTION["question"], k=4)]

    assert sum(m["doc_id"] == "manual" for m in uncapped) > 2, "ranked alone, it fills them"
    assert len(capped) == 4
    assert sum(s["doc_id"] == "manual" for s in capped) <= 2
    assert {s["doc_id"] for s in capped} > {"manual"}
    merged = [s for s in capped if s["metadata"].get("chunk_count", 1) > 1]
    assert merged, "neighbouring chunks of the manual become one source"
    for source in merged:
        assert source["id"].startswith("manual:") and "-" in source["id"]
        assert source["content"] in MANUAL
        assert len(RINGED.findall(source["content"])) >= 1


async def test_a_merged_source_is_cited_and_grounded_on_the_text_it_shows(
    serve, settings, embeddings, scripted_llm
):
    with serve(manual_app(settings, embeddings, scripted_llm)) as server:
        await index(server.url, HERON_DOCS)
        scripted_llm.script = Script(tokens=["Looking."])
        first = of_type(await read_events(server.url, json=QUESTION), "source")
        merged = next(s for s in first if s["metadata"].get("chunk_count", 1) > 1)
        # A sentence of the merged source that its first chunk does not hold, cited.
        later = RINGED.findall(merged["content"])[-1]
        scripted_llm.script = Script(tokens=[later[:20], later[20:], f" [{merged['cite']}]"])
        events = await read_events(server.url, json=QUESTION)
    store = build_chroma_client(path=settings.chroma_path).get_collection(settings.collection)
    first_chunk = merged["id"].rsplit("-", 1)[0]
    assert later not in store.get(ids=[first_chunk])["documents"][0]

    sources = {s["cite"]: s for s in of_type(events, "source")}
    assert sources[merged["cite"]]["id"] == merged["id"]
    answer = "".join(tokens_of(events))
    assert later in answer and later in merged["content"]
    [done] = of_type(events, "done")
    assert done["cited"] == [merged["cite"]] and done["invalid_citations"] == []
    [check] = of_type(events, "grounding")
    assert check["cited"] == [merged["cite"]]
    assert check["supported"] and check["citation_supported"] is True
