"""``streaming-rag docs list|show|rm``: see and curate what the assistant answers from.

In process they read the store the settings name (embedded or a Chroma server), as
``ingest`` writes it; with ``--url`` they ask a running server's ``/documents`` routes,
sending ``RAG_API_KEY`` as the bearer key when it is set. ``--kb`` picks the knowledge
base (default: ``RAG_COLLECTION``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from typing import Any

from rich.markup import escape
from rich.table import Table

from app.cli._bearer import bearer_headers
from app.cli._console import console
from app.settings import Settings


def cmd_docs(args: argparse.Namespace) -> int:
    """Run one of ``list``, ``show``, ``rm``; exit status 1 when a document is unknown."""
    settings = Settings()
    fetch = _remote if args.url else _local
    try:
        result = fetch(args, settings)
    except LookupError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 1
    {"list": _print_list, "show": _print_document, "rm": _print_removed}[args.action](result)
    return 0


def _local(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """The answer, from the store itself."""
    from app.services import build_services
    from chains.documents import list_documents, show_document
    from chains.errors import DocumentNotFoundError, KnowledgeBaseNotFoundError

    try:
        kb = build_services(settings).kbs.get(args.kb)
    except KnowledgeBaseNotFoundError as exc:
        raise LookupError(str(exc)) from exc
    if args.action == "list":
        listing = list_documents(kb.store, query=args.q, page=args.page, page_size=args.page_size)
        return {"kb": kb.name, **dataclasses.asdict(listing)}
    if args.action == "show":
        detail = show_document(kb.store, args.id)
        if detail is None:
            raise LookupError(f"no indexed document has the id {args.id!r} in {kb.name!r}")
        return {"kb": kb.name, **dataclasses.asdict(detail)}
    try:
        removed = asyncio.run(kb.ingestor.remove(args.ids, missing_ok=False))
    except DocumentNotFoundError as exc:
        raise LookupError(str(exc)) from exc
    return {"kb": kb.name, "deleted": [{"doc_id": d, "num_chunks": n} for d, n in removed.items()]}


def _remote(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """The answer, from a running server's ``/documents`` routes."""
    import httpx

    headers = bearer_headers(settings)
    params: dict[str, Any] = {"kb": args.kb} if args.kb else {}
    with httpx.Client(base_url=args.url, headers=headers, timeout=60) as client:
        if args.action == "list":
            params |= {"q": args.q, "page": args.page, "page_size": args.page_size}
            response = client.get("/documents", params=params)
        elif args.action == "show":
            response = client.get(f"/documents/{args.id}", params=params)
        else:
            response = client.request("DELETE", "/documents", params=params, json={"ids": args.ids})
    if response.status_code == 404:
        raise LookupError(response.json()["detail"])
    if response.status_code != 200:
        raise SystemExit(f"error: HTTP {response.status_code}: {response.text}")
    answer: dict[str, Any] = response.json()
    return answer


def _print_list(listing: dict[str, Any]) -> None:
    documents = listing["documents"]
    first = (listing["page"] - 1) * listing["page_size"] + 1
    shown = f"{first}-{first + len(documents) - 1} of " if documents else ""
    table = Table(title=f"{listing['kb']}: {shown}{listing['total']} documents")
    for column in ("id", "source", "chunks", "characters", "indexed at"):
        table.add_column(column, overflow="fold")
    for doc in documents:
        table.add_row(
            escape(doc["id"]),
            escape(doc["source"] or doc["title"] or ""),
            str(doc["num_chunks"]),
            f"{doc['characters']:,}",
            doc["indexed_at"] or "",
        )
    console.print(table)


def _print_document(doc: dict[str, Any]) -> None:
    console.print(f"[bold]{escape(doc['id'])}[/bold] in {escape(doc['kb'])}")
    for key, value in doc["metadata"].items():
        console.print(f"  {escape(key)}: {escape(str(value))}")
    console.print(
        f"  {doc['num_chunks']} chunks, {doc['characters']:,} characters, "
        f"indexed {doc['indexed_at']}"
    )
    for chunk in doc["chunks"]:
        console.print(
            f"\n[dim]{escape(chunk['id'])} at {chunk['start_index']}[/dim]\n"
            + escape(chunk["text"].strip())
        )


def _print_removed(result: dict[str, Any]) -> None:
    for doc in result["deleted"]:
        console.print(
            f"[yellow]removed[/yellow] {escape(doc['doc_id'])} ({doc['num_chunks']} chunks) "
            f"from {escape(result['kb'])}"
        )


def add_docs_parser(commands: Any) -> None:
    """The ``docs`` sub-command and its three actions."""
    docs = commands.add_parser("docs", help="list, show or remove indexed documents")
    actions = docs.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the documents, by id, a page at a time")
    listing.add_argument("-q", default="", help="only ids or sources containing this")
    listing.add_argument("--page", type=int, default=1)
    listing.add_argument("--page-size", type=int, default=50)
    show = actions.add_parser("show", help="one document's metadata and chunks")
    show.add_argument("id")
    rm = actions.add_parser("rm", help="remove documents (all their chunks)")
    rm.add_argument("ids", nargs="+", metavar="ID")
    for action in (listing, show, rm):
        add_kb_option(action)
        action.add_argument("--url", help="a running server instead of the store itself")
    docs.set_defaults(func=cmd_docs)


def add_kb_option(parser: argparse.ArgumentParser) -> None:
    """``--kb NAME``: the knowledge base to use (default: ``RAG_COLLECTION``)."""
    parser.add_argument(
        "--kb", default="", help="the knowledge base (default: RAG_COLLECTION)"
    )
