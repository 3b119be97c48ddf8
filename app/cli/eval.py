"""``streaming-rag eval QUESTIONS.jsonl``: score answers on your own documents, gate CI on it.

Asks every question through the event stream (in process, or a running server's
``/rag/sse`` with ``--url``), prints each measure with its 95% bootstrap interval,
writes ``report.json`` and ``junit.xml``, and exits 0 when every ``--min``/``--max``
holds (and nothing dropped against ``--baseline``), 1 when one is missed, 2 on a usage
or configuration error, 3 when nothing could be evaluated.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.progress import Progress

from app.cli._console import console
from app.evaluation.gate import MISSED, NOTHING, PASSED, USAGE, Check, Threshold
from app.evaluation.judge import Judge
from app.evaluation.questions import EvalQuestion, QuestionFileError, load_questions
from app.evaluation.runner import Configuration
from app.settings import Settings
from chains.events import Ask

DOCUMENT_PAGE = 200


def add_eval_parser(commands: Any) -> None:
    """``eval`` and its options."""
    parser = commands.add_parser("eval", help="score answers on a question file; gate CI on it")
    parser.add_argument(
        "questions", nargs="?", metavar="QUESTIONS.jsonl", help="with --generate: the KB instead"
    )
    parser.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--kb", default="", help="the knowledge base (default: the default one)")
    parser.add_argument("-k", type=int, default=None, help="sources per question (RAG_TOP_K)")
    parser.add_argument(
        "--compare",
        help="configurations asked in turn, comma-separated: k=4,k=8 or progressive=true,"
        "progressive=false",
    )
    parser.add_argument("--baseline", type=Path, help="a report.json to compare against")
    parser.add_argument(
        "--min", action="append", default=[], metavar="NAME=VALUE", help="e.g. recall@4=0.8"
    )
    parser.add_argument(
        "--max", action="append", default=[], metavar="NAME=VALUE", help="e.g. ttft_p95_ms=1500"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("eval-report"), help="where report.json and junit.xml go"
    )
    parser.add_argument(
        "--judge",
        metavar="URL",
        help="an OpenAI-compatible /v1 endpoint that also judges each sentence (advisory)",
    )
    parser.add_argument(
        "--judge-model", default="judge", help="the model the judge endpoint serves"
    )
    parser.add_argument(
        "--html", action="store_true", help="also write report.html with the latency plot"
    )
    parser.add_argument(
        "--generate",
        choices=["headings", "sentences"],
        help="write a question set made from the knowledge base instead (see -o)",
    )
    parser.add_argument("-o", "--output", type=Path, help="with --generate: the file to write")
    parser.add_argument(
        "--limit", type=int, default=50, help="with --generate: at most this many questions"
    )
    parser.set_defaults(func=cmd_eval)


@dataclass(frozen=True)
class _Plan:
    """What one run asks and holds, read from the command line before anything starts."""

    questions: list[EvalQuestion]
    configurations: list[Configuration]
    thresholds: list[Threshold]
    baseline: dict[str, Any] | None
    k: int


def cmd_eval(args: argparse.Namespace) -> int:
    """Run the evaluation; the exit status is the gate's."""
    if args.generate:
        return _generate(args)
    if not args.questions:
        console.print("[red]error:[/red] name a question file (or --generate a set)")
        return USAGE
    settings = Settings()
    try:
        plan = _Plan(
            questions=load_questions(Path(args.questions)),
            configurations=[Configuration.parse(c) for c in args.compare.split(",")]
            if args.compare
            else [],
            thresholds=[Threshold.parse(t, "min") for t in args.min]
            + [Threshold.parse(t, "max") for t in args.max],
            baseline=_read_baseline(args.baseline) if args.baseline else None,
            k=args.k or settings.top_k,
        )
    except (ValueError, QuestionFileError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return USAGE
    if args.url:
        return asyncio.run(_remote(args, plan))
    from app.cli.serve import index_sample_docs_if_empty, model_server
    from app.services import build_services

    with model_server(settings):
        services = build_services(settings)
        if not args.kb:  # as serve does: the sample knowledge base into an empty default
            index_sample_docs_if_empty(services)
        fingerprint = _fingerprint(_local_documents(services, args.kb))
        return asyncio.run(_run(args, plan, services.event_stream.astream, fingerprint))


async def _remote(args: argparse.Namespace, plan: _Plan) -> int:
    from app.cli.ask import read_remote_events

    listed = await _remote_listing(args.url, args.kb, _remote_documents)
    if isinstance(listed, int):
        return listed
    ask = functools.partial(read_remote_events, args.url)
    return await _run(args, plan, ask, _fingerprint(listed))


async def _remote_listing(url: str, kb: str, list_them: Any) -> list[dict[str, Any]] | int:
    """``list_them(url, kb, headers)``, or the exit code (and the error said) when it fails."""
    import httpx

    try:
        return list(await list_them(url, kb, _headers()))
    except httpx.HTTPError as exc:
        console.print(f"[red]error:[/red] the server at {escape(url)} does not answer: {exc}")
        return NOTHING
    except _Refused as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return USAGE


async def _run(args: argparse.Namespace, plan: _Plan, ask: Ask, fingerprint: dict[str, Any]) -> int:
    """Ask, score, print, write the reports; the gate's exit code."""
    from app.evaluation.gate import check_baseline, check_thresholds
    from app.evaluation.metrics import totals
    from app.evaluation.outputs import html_report, report, table, write_json, write_junit
    from app.evaluation.runner import evaluate

    baseline, k = plan.baseline, plan.k
    if fingerprint["documents"] == 0:
        console.print("[red]error:[/red] the knowledge base is empty: nothing to evaluate")
        return NOTHING
    if baseline is not None and baseline.get("fingerprint") != fingerprint:
        console.print(
            "[red]error:[/red] the baseline was measured on other documents "
            f"({baseline.get('fingerprint', {}).get('documents', '?')} documents, "
            f"now {fingerprint['documents']}): its figures do not compare"
        )
        return NOTHING
    runs = len(plan.questions) * max(1, len(plan.configurations))
    judge = _judge(args)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("asking", total=runs)
            results = await evaluate(
                plan.questions,
                ask,
                default_k=k,
                configurations=[
                    Configuration(c.label, {"k": k, **c.fields}) for c in plan.configurations
                ]
                or [Configuration("", {"k": k})],
                kb=args.kb,
                on_result=lambda _: progress.advance(task),
                judge=judge,
            )
    finally:
        if judge is not None:
            await judge.aclose()
    if judge is not None and (judge.unparsed or judge.failed):
        console.print(
            f"[yellow]judge:[/yellow] {judge.unparsed} replies neither yes nor no, "
            f"{judge.failed} answers it could not be asked about (left out)"
        )
    if all(r.error is not None for rows in results.values() for r in rows):
        first = next(iter(results.values()))[0]
        console.print(
            f"[red]error:[/red] no question could be answered ({escape(first.error or '')})"
        )
        return NOTHING
    sums = {label: totals(rows) for label, rows in results.items()}
    console.print(table(sums, results))
    for label, rows in results.items():
        for r in rows:
            if r.error is not None:
                console.print(f"[yellow]{escape(label or 'question')} {r.id}:[/yellow] {r.error}")
    checks: list[Check] = []
    try:
        for label, measures in sums.items():
            for check in check_thresholds(measures, plan.thresholds):
                name = f"{check.name} ({label})" if label else check.name
                checks.append(Check(name, check.passed, check.detail))
    except ValueError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return USAGE
    if baseline is not None:
        before = next(iter(baseline["configurations"].values()))["totals"]
        checks += check_baseline(next(iter(sums.values())), before)
    for check in checks:
        mark = "[green]pass[/green]" if check.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {escape(check.name)}: {check.detail}")
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "questions_file": str(args.questions),
        "kb": args.kb,
        "k": k,
        "url": args.url,
        "fingerprint": fingerprint,
    }
    write_json(args.out / "report.json", report(results, sums, checks, meta))
    write_junit(args.out / "junit.xml", results, checks)
    if args.html:
        (args.out / "report.html").write_text(html_report(results, sums, checks), encoding="utf-8")
    failed = sum(not c.passed for c in checks)
    console.print(f"{len(checks) - failed} passed, {failed} failed")
    console.print(f"[dim]wrote {args.out / 'report.json'} and {args.out / 'junit.xml'}[/dim]")
    return MISSED if failed else PASSED


def _judge(args: argparse.Namespace) -> Judge | None:
    """The advisory judge ``--judge`` names (its key: ``RAG_LLM_API_KEY``), or None."""
    if not args.judge:
        return None
    key = Settings().llm_api_key
    return Judge(args.judge, args.judge_model, api_key=key.get_secret_value() if key else None)


def _generate(args: argparse.Namespace) -> int:
    """``--generate MODE [KB] -o FILE``: write a question set made from the documents."""
    from app.evaluation.generate import generate

    if args.output is None:
        console.print("[red]error:[/red] --generate writes a file: name it with -o")
        return USAGE
    kb = args.questions or args.kb
    if args.url:
        listed = asyncio.run(_remote_listing(args.url, kb, _remote_texts))
        if isinstance(listed, int):
            return listed
        documents = listed
    else:
        from app.services import build_services

        documents = _local_texts(build_services(Settings()), kb)
    if not documents:
        console.print("[red]error:[/red] the knowledge base is empty: nothing to ask about")
        return NOTHING
    questions = generate(documents, args.generate, limit=args.limit)
    args.output.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    console.print(
        f"wrote {len(questions)} questions from {len(documents)} documents to {args.output} "
        "(made from the documents' own words: compare versions with them, do not quote "
        "their scores)"
    )
    return PASSED if questions else NOTHING


def _headers() -> dict[str, str]:
    from app.cli._bearer import bearer_headers

    return bearer_headers(Settings())


async def _remote_texts(url: str, kb: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    import httpx

    listed = await _remote_documents(url, kb, headers)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        texts = []
        for doc in listed:
            body = (await client.get(f"/documents/{doc['id']}", params={"kb": kb})).json()
            texts.append({"id": doc["id"], "title": doc.get("title"), "text": body["text"]})
    return texts


def _local_texts(services: Any, kb: str) -> list[dict[str, Any]]:
    from chains.documents import document_text

    store = services.kbs.get(kb).store
    return [
        {"id": d["id"], "title": d["title"], "text": document_text(store, d["id"]) or ""}
        for d in _local_documents(services, kb)
    ]


class _Refused(Exception):
    """The server refused to list the knowledge base's documents."""


async def _remote_documents(url: str, kb: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    import httpx

    found: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        page = 1
        while True:
            params: dict[str, str | int] = {"kb": kb, "page": page, "page_size": DOCUMENT_PAGE}
            response = await client.get("/documents", params=params)
            if response.status_code != 200:
                raise _Refused(f"GET /documents: HTTP {response.status_code}: {response.text}")
            body = response.json()
            found += body["documents"]
            if len(found) >= body["total"] or not body["documents"]:
                return found
            page += 1


def _local_documents(services: Any, kb: str) -> list[dict[str, Any]]:
    import dataclasses

    from chains.documents import list_documents

    listing = list_documents(services.kbs.get(kb).store, page_size=1_000_000)
    return [dataclasses.asdict(d) for d in listing.documents]


def _fingerprint(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """What the figures were measured on: the documents, their sizes and chunk counts."""
    lines = sorted(f"{d['id']}\t{d['characters']}\t{d['num_chunks']}" for d in documents)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    return {"documents": len(documents), "sha256": digest}


def _read_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"--baseline {path}: cannot be read as JSON ({exc})") from exc
    if not isinstance(data, dict) or not data.get("configurations"):
        raise ValueError(f"--baseline {path}: not a report.json of streaming-rag eval")
    return data
