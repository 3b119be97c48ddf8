"""Section 18: live grounding on the real engine, judged and priced.

One llama-server (Q4_0, the shipped default) and two ``streaming-rag serve`` processes on
the sample knowledge base, one with ``RAG_GROUNDING=true``, one with it off.

- **Agreement.** The quality bench's questions (section 10) go to the grounded app, plain
  and progressive. Each answer's sentences are then judged offline the bench's way: its
  own regex splitter, the claim without citation brackets, supported when some source's
  cosine similarity reaches the threshold calibrated in this run. A live verdict and a
  judged one are compared where both split out the same sentence. They share the
  embedding model and the threshold, so this measures the streaming split and the live
  path, not whether similarity is the right judge.
- **Cost.** One question, answered by both apps in turn (the order alternates every round)
  on the same engine: tokens per second, time to first token, and each app process's CPU
  time per token, with the ratio taken within each round.

Run alone: ``python -m bench.grounding`` prints this section.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

import httpx

from bench.harness import Service, fmt, run_alone, start_app, timed_payloads
from bench.quality import QUESTIONS, kb_chunks, knowledge_base
from bench.support_judge import calibrate, sentences
from chains.grounding import unit_rows
from chains.sentences import claim

if TYPE_CHECKING:
    from bench.report import Section

MAX_TOKENS = 160
ROUNDS = 10
COST_QUESTION = "What happens when a client reads the stream slowly?"


async def _answer(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """One answer's final text, sources, grounding events, done, and timings."""
    out: dict[str, Any] = {"sources": [], "checks": [], "tokens": 0, "ttft": None}
    answer: list[str] = []
    async for now, event in timed_payloads(client, "/rag/sse", body):
        kind = event["type"]
        if kind == "source":
            out["sources"].append(event)
        elif kind == "context_update":
            out["sources"].extend(event["sources"])
        elif kind == "revise":
            answer, out["checks"] = [], []
        elif kind == "token":
            out["ttft"] = out["ttft"] if out["ttft"] is not None else now
            out["tokens"] += 1
            answer.append(event["content"])
        elif kind == "grounding":
            out["checks"].append(event)
        elif kind in ("done", "error"):
            out[kind] = event
            out["end"] = now
    out["answer"] = "".join(answer)
    return out


def agreement(embeddings: Any, answers: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """Live verdicts against the offline judge, on the sentences both split out alike."""
    judged = matched = agreed = live = live_supported = 0
    for a in answers:
        if "done" not in a or not a["answer"]:
            continue
        live += len(a["checks"])
        live_supported += sum(c["supported"] for c in a["checks"])
        by_claim = {claim(a["answer"][c["start"] : c["end"]]): c for c in a["checks"]}
        parts = [claim(s) for s in sentences(a["answer"]) if len(claim(s).split()) >= 3]
        if not parts:
            continue
        written_from = [s["content"] for s in a["sources"]]
        similarity = unit_rows(embeddings.embed_documents(parts)) @ unit_rows(
            embeddings.embed_documents(written_from)
        ).T
        for part, row in zip(parts, similarity, strict=True):
            judged += 1
            if part in by_claim:
                matched += 1
                agreed += by_claim[part]["supported"] == bool(row.max() >= threshold)
    return {
        "judged": judged,
        "matched": matched,
        "agreed": agreed,
        "live": live,
        "live_supported": live_supported,
    }


async def cost(on: Service, off: Service) -> list[dict[str, dict[str, float]]]:
    """Both apps answer the same question in turn, ``ROUNDS`` times, order alternating."""
    rounds: list[dict[str, dict[str, float]]] = []
    body = {"question": COST_QUESTION, "k": 4}
    async with (
        httpx.AsyncClient(base_url=on.url, timeout=300) as c_on,
        httpx.AsyncClient(base_url=off.url, timeout=300) as c_off,
    ):
        apps = {"on": (on, c_on), "off": (off, c_off)}
        for _, client in apps.values():  # warm-up
            await _answer(client, body)
        for r in range(ROUNDS):
            figures = {}
            for name in (["on", "off"] if r % 2 == 0 else ["off", "on"]):
                app, client = apps[name]
                cpu, started = app.cpu_seconds(), time.perf_counter()
                a = await _answer(client, body)
                assert "done" in a, a.get("error")
                wall = time.perf_counter() - started
                figures[name] = {
                    "cpu_us_per_token": (app.cpu_seconds() - cpu) / a["tokens"] * 1e6,
                    "tokens_per_s": a["tokens"] / (a["end"] - a["ttft"]),
                    "ttft_ms": a["ttft"] * 1000,
                    "wall_s": wall,
                    "tokens": a["tokens"],
                }
            rounds.append(figures)
    return rounds


async def run(work: Path, logs: Path) -> dict[str, Any]:
    from app.engines.llama_server import LocalModelServer
    from app.engines.model_file import local_model_file
    from app.settings import LOCAL_MODEL_ALIAS
    from bench.harness import free_port
    from chains.embeddings import build_embeddings
    from chains.grounding import MEASURED_SUPPORT_SCORE

    embeddings = build_embeddings("local")
    calibration = calibrate(embeddings, kb_chunks(await knowledge_base(embeddings, work / "g-kb")))
    model = local_model_file("Q4_0", work / "models")
    with LocalModelServer(model_path=model, port=free_port(), log_path=logs / "g-llm.log") as llm:
        apps = {}
        with contextlib.ExitStack() as stack:
            for name, flag in (("on", "true"), ("off", "false")):
                app = start_app(
                    f"grounding-{name}",
                    chroma=work / f"g-{name}",
                    llm_url=llm.base_url,
                    model=LOCAL_MODEL_ALIAS,
                    logs=logs,
                    index_sample_docs="true",
                    grounding=flag,
                    llm_max_tokens=str(MAX_TOKENS),
                )
                stack.callback(app.stop)
                apps[name] = app
            configs: dict[str, dict[str, Any]] = {}
            async with httpx.AsyncClient(base_url=apps["on"].url, timeout=300) as client:
                for config, progressive in (("plain", False), ("progressive", True)):
                    answers = []
                    for question, _ in QUESTIONS:
                        body = {"question": question, "k": 4, "progressive": progressive}
                        answers.append(await _answer(client, body))
                    configs[config] = agreement(embeddings, answers, calibration.threshold)
            rounds = await cost(apps["on"], apps["off"])
    return {
        "configs": configs,
        "rounds": rounds,
        "threshold": calibration.threshold,
        "service_threshold": MEASURED_SUPPORT_SCORE,
    }


def section(r: dict[str, Any]) -> Section:
    from bench.report import Section

    rows = []
    for name, a in r["configs"].items():
        share = a["live_supported"] / a["live"] if a["live"] else 0.0
        rows.append(
            f"| {name} | {a['live']} | {share:.0%} | {a['matched']}/{a['judged']} | "
            f"{a['agreed']}/{a['matched']} ({a['agreed'] / max(a['matched'], 1):.0%}) |"
        )
    rounds = r["rounds"]

    def figure(key: str, name: str) -> float:
        return median(f[name][key] for f in rounds)

    def ratio(key: str) -> tuple[float, float, float]:
        ratios = [f["on"][key] / f["off"][key] for f in rounds]
        return median(ratios), min(ratios), max(ratios)

    cost_rows = []
    for key, label in (
        ("cpu_us_per_token", "app CPU µs per token"),
        ("tokens_per_s", "tokens/s after the first"),
        ("ttft_ms", "time to first token (ms)"),
    ):
        mid, low, high = ratio(key)
        cost_rows.append(
            f"| {label} | {fmt(figure(key, 'on'))} | {fmt(figure(key, 'off'))} | "
            f"{mid:.2f}x ({low:.2f}-{high:.2f}) |"
        )
    cpu = ratio("cpu_us_per_token")[0]
    speed = ratio("tokens_per_s")[0]
    share = {n: a["live_supported"] / max(a["live"], 1) for n, a in r["configs"].items()}
    agreed = sum(a["agreed"] for a in r["configs"].values())
    matched = sum(a["matched"] for a in r["configs"].values())
    body = f"""The quality bench's {len(QUESTIONS)} questions on the shipped engine (Q4_0,
temperature 0, `max_tokens` {MAX_TOKENS}, `k=4`), through `/rag/sse` with grounding on. The
judge is section 10's, run offline on each final answer: its own sentence splitter, threshold
calibrated in this run at {r["threshold"]:.3f} (the service ships {r["service_threshold"]:.3f}).
Both use the same embedding model, so agreement measures the live path (streaming split,
batching, progressive revisions), not the judge.

| configuration | sentences checked live | supported | judge's sentences also split live | verdicts agreeing |
| --- | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

Cost, on the same engine with the same question, the two apps alternating ({ROUNDS} rounds;
median, and the ratio on/off within each round with its spread):

| measure | grounding on | off | on / off |
| --- | ---: | ---: | ---: |
{chr(10).join(cost_rows)}
"""
    return Section(
        18,
        "Live grounding: agreement and cost",
        body,
        headline=[
            f"Live grounding: {share['plain']:.0%} of answer sentences supported (plain), "
            f"verdicts agree with the offline judge on {agreed}/{matched}; "
            f"app CPU per token {cpu:.2f}x, tokens/s {speed:.2f}x with it on"
        ],
    )


if __name__ == "__main__":
    run_alone(run, section, prefix="bench-grounding-")
