"""The ``streaming-rag`` command: serve, ingest, ask, chat, eval, docs, keys, mcp and the rest.

``serve`` starts the local model server when no LLM endpoint is configured, indexes
the sample knowledge base into an empty collection, then runs the API; Ctrl-C stops
both processes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app.cli._console import console
from app.cli.ask import cmd_ask
from app.cli.chat import cmd_chat
from app.cli.chroma import cmd_chroma
from app.cli.docs import add_docs_parser, add_kb_option
from app.cli.eval import add_eval_parser
from app.cli.ingest import cmd_ingest
from app.cli.keys import add_keys_parser
from app.cli.mcp import cmd_mcp
from app.cli.serve import cmd_llm, cmd_serve
from app.cli.summarize import cmd_summarize
from app.engines.chroma_server import DEFAULT_PORT
from chains.errors import StreamingRagError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one sub-command per job."""
    parser = argparse.ArgumentParser(prog="streaming-rag", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API (and the local model server)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers", type=int, help="API processes sharing a Chroma server (default 1)"
    )
    serve.set_defaults(func=cmd_serve)
    chroma = commands.add_parser("chroma", help="run a Chroma server the API and CLI share")
    chroma.add_argument("--port", type=int, default=DEFAULT_PORT)
    chroma.add_argument("--path", type=Path, help="its data directory (./data/chroma-server)")
    chroma.set_defaults(func=cmd_chroma)
    commands.add_parser("llm", help="run only the local model server").set_defaults(func=cmd_llm)
    ingest = commands.add_parser("ingest", help="index .txt, .md, .html and .pdf files")
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="a file or a directory")
    ingest.add_argument(
        "--watch", action="store_true", help="then re-index changes and drop deleted files"
    )
    ingest.add_argument(
        "--reindex",
        action="store_true",
        help="index every stored document again from its chunks (after changing "
        "RAG_CHUNK_CONTEXT or RAG_CHUNK_SIZE), no files needed",
    )
    add_kb_option(ingest)
    ingest.set_defaults(func=cmd_ingest)
    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=None)
    ask.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    add_kb_option(ask)
    ask.set_defaults(func=cmd_ask)
    chat = commands.add_parser("chat", help="a conversation: follow-ups keep the history")
    chat.add_argument("-k", type=int, default=None)
    chat.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    add_kb_option(chat)
    chat.set_defaults(func=cmd_chat)
    summarize = commands.add_parser("summarize", help="summarize a long document")
    which = summarize.add_mutually_exclusive_group(required=True)
    which.add_argument("path", nargs="?", metavar="PATH", help="a .txt, .md, .html or .pdf file")
    which.add_argument("--id", help="the doc_id of an indexed document instead")
    add_kb_option(summarize)
    summarize.set_defaults(func=cmd_summarize)
    commands.add_parser(
        "mcp", help="serve the MCP tools over stdio (for Claude Desktop, Claude Code, Cursor)"
    ).set_defaults(func=cmd_mcp)
    add_docs_parser(commands)
    add_keys_parser(commands)
    add_eval_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``streaming-rag`` console script."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StreamingRagError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
