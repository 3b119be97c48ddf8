"""Section 15: conversations. Follow-up recall and timing on the real engine.

The dialogues are drawn mechanically from the Python documentation (section 11's
corpus): each first turn is one of section 11's API questions ("What does
pathlib.Path.stat do?"), and its follow-up refers back to the name with a pronoun, from
a fixed rotation of :data:`FOLLOW_UPS` ("What does it return?"). The passage to find is
the name's definition, as in section 11.

Each dialogue runs through ``/rag/sse`` of one app on the default engine: the first
turn, then the follow-up with the first turn's real answer as ``chat_history``, so first
turns and follow-ups alternate. Recall@4 of the follow-up is read off its own events:

- (a) **raw**: wave 1's sources, the follow-up searched as written;
- (b) **standalone**: the ``context_update`` ranking, the rewritten question searched;
- (c) **shipped**: the context the answer was written from: (b) when its best chunk is
  new to wave 1 (the material-change rule), else (a).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx

from bench.harness import fmt, free_port, run_alone, start_app, summary, timed_payloads, verdict
from bench.python_docs import api_questions, documents
from bench.python_docs_questions import Question
from bench.report import Section
from bench.retrieval import COLLECTION, build
from chains.embeddings import build_embeddings
from chains.store import build_chroma_client

DIALOGUES = 48
K = 4
ANSWER_TOKENS = 48
FOLLOW_UPS = (
    "What does it return?",
    "What arguments does it take?",
    "When should I use it?",
    "Can you show an example of it?",
)


def dialogues(chapters: list[Any]) -> list[tuple[Question, str]]:
    """``(first turn, follow-up)``: section 11's API questions and a pronoun follow-up."""
    firsts = api_questions(chapters)[:DIALOGUES]
    return [(q, FOLLOW_UPS[i % len(FOLLOW_UPS)]) for i, q in enumerate(firsts)]


async def _ask(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """One answer's events and client timings (seconds from sending)."""
    seen: dict[str, Any] = {"sources": [], "update": None, "revised": False, "done": None}
    async for at, event in timed_payloads(client, "/rag/sse", body):
        kind = event["type"]
        if kind == "source":
            seen["sources"].append(event["id"])
            seen.setdefault("first_source", at)
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


def _shipped(turn: dict[str, Any]) -> list[str]:
    """The chunk ids the follow-up's answer was written from, by the material-change rule.

    The standalone ranking when its best chunk is new to wave 1 (a revise, or the held
    draft's choice), else wave 1's sources.
    """
    ranked = turn["update"]["context_ids"] if turn["update"] else []
    if ranked and ranked[0] not in turn["sources"]:
        return list(ranked[:K])
    return list(turn["sources"][:K])


MODES = ("after_rewrite", "at_once")
"""``RAG_FOLLOW_UP_DRAFT``: the shipped default (wait for the rewrite), then the draft on
the raw question's sources."""


async def run(work: Path, logs: Path) -> dict[str, Any]:
    """Index the docs; run every dialogue in both modes, alternating; judge the contexts."""
    from app.engines.llama_server import LocalModelServer
    from app.engines.model_file import local_model_file
    from app.settings import LOCAL_MODEL_ALIAS

    chapters = documents()
    pairs = dialogues(chapters)
    built = await build(build_embeddings("local"), work / "python-docs", chapters)
    del built["store"]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        mode: {"firsts": [], "follow_ups": []} for mode in MODES
    }
    env = {"collection": COLLECTION, "llm_max_tokens": str(ANSWER_TOKENS)}
    model = local_model_file("Q4_0", work / "models")
    with LocalModelServer(
        model_path=model, port=free_port(), log_path=logs / "chat-llm.log"
    ) as llm:
        apps = {}
        for mode in MODES:  # each app on its own copy: no two writers on one directory
            shutil.copytree(work / "python-docs", work / f"docs-{mode}")
            apps[mode] = start_app(
                f"app-{mode}",
                chroma=work / f"docs-{mode}",
                llm_url=llm.base_url,
                model=LOCAL_MODEL_ALIAS,
                logs=logs,
                follow_up_draft=mode,
                **env,
            )
        try:
            clients = {m: httpx.AsyncClient(base_url=a.url, timeout=120) for m, a in apps.items()}
            for client in clients.values():
                await _ask(client, {"question": "warm-up", "k": K})
            for i, (first, follow_up) in enumerate(pairs):
                for mode in MODES if i % 2 == 0 else MODES[::-1]:  # A B, then B A
                    opened = await _ask(clients[mode], {"question": first.text, "k": K})
                    answer = (opened["done"] or {}).get("answer") or "(no answer)"
                    history = [
                        {"role": "user", "content": first.text},
                        {"role": "assistant", "content": answer},
                    ]
                    body = {"question": follow_up, "k": K, "chat_history": history}
                    runs[mode]["firsts"].append(opened)
                    runs[mode]["follow_ups"].append(await _ask(clients[mode], body))
            for client in clients.values():
                await client.aclose()
        finally:
            for app in apps.values():
                app.stop()
    store = build_chroma_client(path=work / "python-docs").get_collection(COLLECTION)
    return {
        "corpus": built,
        "pairs": [(q.text, f) for q, f in pairs],
        "modes": {
            mode: {**turns, "recall": _recall(store, pairs, turns["follow_ups"], turns["firsts"])}
            for mode, turns in runs.items()
        },
    }


def _recall(
    store: Any,
    pairs: list[tuple[Question, str]],
    turns: list[dict[str, Any]],
    firsts: list[dict[str, Any]],
) -> dict[str, float]:
    """Per search, the share of follow-ups whose top 4 holds the defining passage."""

    def hit(ids: list[str], question: Question) -> bool:
        if not ids:
            return False
        got = store.get(ids=ids, include=["documents", "metadatas"])
        return any(
            meta["doc_id"] in question.chapters and question.passage in text
            for text, meta in zip(got["documents"], got["metadatas"], strict=True)
        )

    searches = {
        "(a) raw question": lambda t: t["sources"][:K],
        "(b) standalone question": lambda t: (t["update"] or {}).get("context_ids", [])[:K],
        "(c) shipped": _shipped,
    }
    rows = {
        name: sum(hit(pick(t), q) for (q, _), t in zip(pairs, turns, strict=True)) / len(turns)
        for name, pick in searches.items()
    }
    rows["the first turn itself"] = sum(
        hit(t["sources"][:K], q) for (q, _), t in zip(pairs, firsts, strict=True)
    ) / len(firsts)
    return rows


def _timings(turns: list[dict[str, Any]], key: str) -> dict[str, float]:
    return summary([t[key] * 1000 for t in turns if t.get(key) is not None])


def _figures(turns: dict[str, Any]) -> dict[str, Any]:
    """One mode's timings, rewrite time and counts."""
    follow, first = turns["follow_ups"], turns["firsts"]
    rewritten = [t for t in follow if t["update"] and t["update"].get("query")]
    return {
        "n": len(follow),
        "rewritten": len(rewritten),
        "revised": sum(1 for t in follow if t["revised"]),
        "errors": sum(1 for t in first + follow if not t["done"] or t["done"]["type"] != "done"),
        "rewrite": summary([t["done"]["metrics"]["rewrite_ms"] for t in rewritten if t["done"]]),
        "ttfs": (_timings(first, "first_source"), _timings(follow, "first_source")),
        "ttft": (_timings(first, "first_token"), _timings(follow, "first_token")),
        "stood": (_timings(first, "first_token"), _timings(follow, "final_first_token")),
    }


def _pair(first: dict[str, float], follow: dict[str, float]) -> str:
    return (
        f"{fmt(first['p50'])} / {fmt(first['p95'])} | {fmt(follow['p50'])} / {fmt(follow['p95'])}"
    )


def section(r: dict[str, Any]) -> Section:
    """The report's section 15."""
    figures = {mode: _figures(turns) for mode, turns in r["modes"].items()}
    recall = {mode: turns["recall"] for mode, turns in r["modes"].items()}
    n = figures[MODES[0]]["n"]
    shipped = MODES[0]
    recall_rows = "\n".join(
        f"| {name} | " + " | ".join(f"{recall[m][name]:.0%}" for m in MODES) + " |"
        for name in recall[shipped]
    )
    timing_rows = "\n".join(
        f"| {m} | {label} | {_pair(*figures[m][key])} |"
        for m in MODES
        for key, label in (
            ("ttfs", "first source"),
            ("ttft", "first token"),
            ("stood", "first token of the answer that stood"),
        )
    )
    examples = "\n".join(
        f"| {q} | {f} | {t['update']['query'] if t['update'] else 'not rewritten'} |"
        for (q, f), t in list(zip(r["pairs"], r["modes"][shipped]["follow_ups"], strict=True))[:6]
    )
    counts = "; ".join(
        f"{m}: {f['rewritten']}/{n} rewritten, {f['revised']} revised, {f['errors']} errors, "
        f"rewrite p50 {fmt(f['rewrite']['p50'])} ms (p95 {fmt(f['rewrite']['p95'])})"
        for m, f in figures.items()
    )
    ship = figures[shipped]
    gap = ship["ttfs"][1]["p50"] - ship["ttfs"][0]["p50"]
    over = ship["stood"][1]["p50"] - ship["stood"][0]["p50"]
    body = f"""{n} dialogues from the Python documentation ({r["corpus"]["chunks"]:,} chunks): the
first turn is one of section 11's API questions, the follow-up refers back with a pronoun
({", ".join(f'"{f}"' for f in FOLLOW_UPS)}, in turn). The passage to find is the name's
definition. Each pair runs live through `/rag/sse`, the first answer going along as
`chat_history`, on two apps that share one default engine (4 slots, `k={K}`,
{ANSWER_TOKENS}-token answers) and differ only in `RAG_FOLLOW_UP_DRAFT`; dialogues
alternate between them (A B, then B A).

**Follow-up recall@4** (passage level), read off each follow-up's own events; (c) is the
context the answer was written from: (b) after a revise (or when the draft waited), else (a).

| search | {" | ".join(MODES)} |
| --- | {" | ".join("---:" for _ in MODES)} |
{recall_rows}

{counts}.

| first turn | follow-up | standalone question (as written by SmolLM2-135M) |
| --- | --- | --- |
{examples}

**Timing** (client side, ms, p50 / p95):

| mode | | first turn | follow-up |
| --- | --- | ---: | ---: |
{timing_rows}

Goal, first source on a follow-up within 10 ms of a first turn's (p50, {shipped}, shipped):
{verdict(gap <= 10, f"{gap:+.1f} ms")}. The first token of the answer that stood comes
{fmt(over)} ms after a first turn's at p50, against a rewrite of
{fmt(ship["rewrite"]["p50"])} ms.
"""
    return Section(
        15,
        "Conversations: follow-ups",
        body,
        headline=[
            f"Follow-up recall@4 ({n} dialogues): raw {recall[shipped]['(a) raw question']:.0%}, "
            f"standalone {recall[shipped]['(b) standalone question']:.0%}, shipped "
            f"{recall[shipped]['(c) shipped']:.0%}; first source {gap:+.1f} ms vs a first turn"
        ],
    )


if __name__ == "__main__":
    run_alone(run, section, prefix="bench-conversation-")
