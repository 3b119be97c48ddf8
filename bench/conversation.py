"""Section 15: conversations. How a follow-up is searched, on two corpora, on the real engine.

- **git**: 32 dialogues over Debian's git documentation, written before any search ran
  on it (:mod:`bench.git_docs_dialogues`); found = one of its pages among the sources.
- **python**: 48 dialogues from the Python documentation (section 11's corpus), an API
  question then a pronoun follow-up (:data:`FOLLOW_UPS`); found = the name's defining
  passage among the sources (by document: its chapter).

Each dialogue runs live through ``/rag/sse``: the first turn, then the follow-up with the
first turn's real answer as ``chat_history``, on four apps sharing one engine that differ
only in how a follow-up is searched (:data:`CONFIGS`), in a rotating order per dialogue.
Read off each follow-up's own events: wave 1's sources, and the sources of the answer
that stood (the rewrite wave's ranking when its best chunk is new to wave 1).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import httpx

from bench.git_docs_dialogues import DIALOGUES as GIT_DIALOGUES
from bench.git_docs_dialogues import git_documents
from bench.harness import fmt, free_port, run_alone, start_app, summary, timed_payloads
from bench.python_docs import api_questions, documents
from bench.report import Section
from bench.retrieval import COLLECTION, build
from chains.chunking import InputDocument
from chains.conversation import _CONDENSE_EXAMPLES
from chains.embeddings import build_embeddings

K = 4
ANSWER_TOKENS = 48
FOLLOW_UPS = (
    "What does it return?",
    "What arguments does it take?",
    "When should I use it?",
    "Can you show an example of it?",
)
CONFIGS: dict[str, dict[str, str]] = {
    "joined (default)": {"follow_up_search": "joined"},
    "joined, then the rewrite; wait": {
        "follow_up_search": "joined_rewrite",
        "follow_up_draft": "after_rewrite",
    },
    "joined, then the rewrite; at once": {
        "follow_up_search": "joined_rewrite",
        "follow_up_draft": "at_once",
    },
    "as written, then the rewrite; wait (before)": {
        "follow_up_search": "rewrite",
        "follow_up_draft": "after_rewrite",
    },
}
EXAMPLE_WORDS = {
    word.lower()
    for example in _CONDENSE_EXAMPLES
    for word in re.findall(r"[A-Za-z]+", example["rewritten"])
    if len(word) > 4
}
"""The condense prompt's example subjects (Redis, Kubernetes, webhooks, created, secured)."""


def dialogue_sets(chapters: list[InputDocument]) -> dict[str, list[dict[str, Any]]]:
    """Both sets as ``{first, follow_up, first_pages, pages, passage}`` dicts."""
    python = [
        {
            "first": q.text,
            "follow_up": FOLLOW_UPS[i % len(FOLLOW_UPS)],
            "first_pages": q.chapters,
            "pages": q.chapters,
            "passage": q.passage,
        }
        for i, q in enumerate(api_questions(chapters)[:48])
    ]
    git = [
        {
            "first": d.first,
            "follow_up": d.follow_up,
            "first_pages": d.first_pages,
            "pages": d.follow_up_pages,
            "passage": None,
        }
        for d in GIT_DIALOGUES
    ]
    return {"git": git, "python": python}


async def _ask(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """One answer's sources (with text), waves, status phases and client timings."""
    seen: dict[str, Any] = {"sources": [], "update": None, "revised": False, "done": None}
    seen["phases"] = []
    async for at, event in timed_payloads(client, "/rag/sse", body):
        kind = event["type"]
        if kind == "source":
            seen["sources"].append(event)
            seen.setdefault("first_source", at)
        elif kind == "status":
            seen["phases"].append(event["phase"])
        elif kind == "context_update":
            seen["update"] = event
        elif kind == "revise":
            seen["revised"] = True
            seen.pop("final_first_token", None)
        elif kind == "token":
            seen.setdefault("first_token", at)
            seen.setdefault("final_first_token", at)
        elif kind in ("done", "error"):
            seen["done"] = event
    return seen


def _shipped(turn: dict[str, Any]) -> list[dict[str, Any]]:
    """The sources the answer that stood was written from (the material-change rule)."""
    wave_1 = turn["sources"][:K]
    update = turn["update"]
    if not update or not update["context_ids"]:
        return wave_1
    known = {s["id"]: s for s in turn["sources"]}
    known.update((s["id"], s) for s in update["sources"])
    ranked = [known[i] for i in update["context_ids"][:K] if i in known]
    return ranked if ranked and ranked[0]["id"] not in {s["id"] for s in wave_1} else wave_1


def _found(sources: list[dict[str, Any]], pages: tuple[str, ...], passage: str | None) -> bool:
    return any(
        s["doc_id"] in pages and (passage is None or passage in s["content"]) for s in sources
    )


async def _corpus(
    name: str,
    chapters: list[InputDocument],
    work: Path,
    logs: Path,
    llm_url: str,
    dialogues: list[dict[str, Any]],
) -> dict[str, Any]:
    """Index ``chapters``; run every dialogue on every configuration, rotating."""
    from app.settings import LOCAL_MODEL_ALIAS

    built = await build(build_embeddings("local"), work / name, chapters)
    del built["store"]
    apps = {}
    for n, (label, settings) in enumerate(CONFIGS.items()):
        shutil.copytree(work / name, work / f"{name}-{n}")  # no two writers on one directory
        apps[label] = start_app(
            f"{name}-{n}",
            chroma=work / f"{name}-{n}",
            llm_url=llm_url,
            model=LOCAL_MODEL_ALIAS,
            logs=logs,
            collection=COLLECTION,
            llm_max_tokens=str(ANSWER_TOKENS),
            **settings,
        )
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in CONFIGS}
    labels = list(CONFIGS)
    try:
        clients = {
            label: httpx.AsyncClient(base_url=a.url, timeout=120) for label, a in apps.items()
        }
        for client in clients.values():
            await _ask(client, {"question": "warm-up", "k": K})
        for i, dialogue in enumerate(dialogues):
            for label in labels[i % len(labels) :] + labels[: i % len(labels)]:
                first = await _ask(clients[label], {"question": dialogue["first"], "k": K})
                answer = (first["done"] or {}).get("answer") or "(no answer)"
                history = [
                    {"role": "user", "content": dialogue["first"]},
                    {"role": "assistant", "content": answer},
                ]
                body = {"question": dialogue["follow_up"], "k": K, "chat_history": history}
                runs[label].append({"first": first, "follow_up": await _ask(clients[label], body)})
        for client in clients.values():
            await client.aclose()
    finally:
        for app in apps.values():
            app.stop()
    return {"corpus": built, "dialogues": dialogues, "runs": runs}


async def run(work: Path, logs: Path) -> dict[str, Any]:
    from app.engines.llama_server import LocalModelServer
    from app.engines.model_file import local_model_file

    python_chapters = documents()
    sets = dialogue_sets(python_chapters)
    model = local_model_file("Q4_0", work / "models")
    with LocalModelServer(
        model_path=model, port=free_port(), log_path=logs / "chat-llm.log"
    ) as llm:
        return {
            "git": await _corpus("git", git_documents(), work, logs, llm.base_url, sets["git"]),
            "python": await _corpus(
                "python", python_chapters, work, logs, llm.base_url, sets["python"]
            ),
        }


def figures(r: dict[str, Any], label: str) -> dict[str, Any]:
    """One configuration's recall, counts and timings on one corpus."""
    turns, dialogues = r["runs"][label], r["dialogues"]
    pairs = list(zip(dialogues, turns, strict=True))

    def rate(pick: Any, by_document: bool = False) -> float:
        hits = [
            _found(pick(t), d["pages"], None if by_document else d["passage"]) for d, t in pairs
        ]
        return sum(hits) / len(hits)

    follow = [t["follow_up"] for t in turns]
    first = [t["first"] for t in turns]
    leaked = [
        t["update"]["query"]
        for t in follow
        if t["update"]
        and t["update"].get("query")
        and EXAMPLE_WORDS & set(re.findall(r"[a-z]+", t["update"]["query"].lower()))
    ]
    return {
        "first": sum(
            _found(t["first"]["sources"][:K], d["first_pages"], d["passage"]) for d, t in pairs
        )
        / len(pairs),
        "wave 1": rate(lambda t: t["follow_up"]["sources"][:K]),
        "shipped": rate(lambda t: _shipped(t["follow_up"])),
        "shipped, by document": rate(lambda t: _shipped(t["follow_up"]), by_document=True),
        "rewritten": sum(1 for t in follow if "rewriting" in t["phases"]),
        "discarded": sum(1 for t in follow if "rewrite_discarded" in t["phases"]),
        "revised": sum(1 for t in follow if t["revised"]),
        "errors": sum(1 for t in first + follow if not t["done"] or t["done"]["type"] != "done"),
        "leaked": leaked,
        "ttfs": (_p50(first, "first_source"), _p50(follow, "first_source")),
        "stood": (_p50(first, "first_token"), _p50(follow, "final_first_token")),
    }


def _p50(turns: list[dict[str, Any]], key: str) -> float:
    return summary([t[key] * 1000 for t in turns if t.get(key) is not None])["p50"]


def section(r: dict[str, Any]) -> Section:
    """The report's section 15."""
    rows, lines = [], []
    for corpus in ("git", "python"):
        n = len(r[corpus]["dialogues"])
        for label in CONFIGS:
            f = figures(r[corpus], label)
            rows.append(
                f"| {corpus} ({n}) | {label} | {f['first']:.0%} | {f['wave 1']:.0%} | "
                f"{f['shipped']:.0%} | {f['shipped, by document']:.0%} | "
                f"{f['rewritten']} / {f['discarded']} / {f['revised']} | "
                f"{fmt(f['ttfs'][0])} / {fmt(f['ttfs'][1])} | "
                f"{fmt(f['stood'][0])} / {fmt(f['stood'][1])} | {len(f['leaked'])} |"
            )
            if f["errors"]:
                lines.append(f"{corpus}, {label}: {f['errors']} answers ended in an error.")
    table = "\n".join(rows)
    chunks = {c: r[c]["corpus"]["chunks"] for c in ("git", "python")}
    body = f"""Two dialogue sets, each dialogue live through `/rag/sse` (the first answer going
along as `chat_history`) on four apps that share one default engine (4 slots, `k={K}`,
{ANSWER_TOKENS}-token answers) and differ only in `RAG_FOLLOW_UP_SEARCH` and
`RAG_FOLLOW_UP_DRAFT`, in a rotating order per dialogue. **git**: 32 dialogues written by
hand over Debian's git documentation ({chunks["git"]:,} chunks) before any search ran on it;
found = one of the follow-up's pages among the sources. **python**: 48 dialogues from the
Python documentation ({chunks["python"]:,} chunks), an API question then a pronoun
follow-up; found = the name's defining passage among the sources (by document: its chapter).

| corpus | follow-up search | first turns found | follow-ups found, wave 1 | follow-ups found, answer that stood | the same, by document | rewritten / discarded / revised | first source, first turn / follow-up (p50 ms) | first token of the answer that stood (p50 ms) | searched rewrites with an example's words |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{table}

"Joined" searches the follow-up, then the earlier question, and nothing more; "then the
rewrite" adds the model's standalone question as a second wave, searched only when it
brings no word from outside the conversation (else discarded: a `status` event says
so); "as written" searches the follow-up alone first. "Wait" holds the draft for the
rewrite wave; "at once" drafts from wave 1 and revises when the rewrite wave's best chunk
is new. {" ".join(lines)}
"""
    best = figures(r["git"], "joined (default)")
    before = figures(r["git"], "as written, then the rewrite; wait (before)")
    return Section(
        15,
        "Conversations: follow-ups",
        body,
        headline=[
            f"Follow-ups on git docs (32 dialogues, written before the results): found "
            f"{best['shipped']:.0%} joined vs {before['shipped']:.0%} before (first turns "
            f"{best['first']:.0%}); first token of the answer that stood "
            f"{fmt(best['stood'][1])} vs {fmt(before['stood'][1])} ms p50"
        ],
    )


if __name__ == "__main__":
    run_alone(run, section, prefix="bench-conversation-")
