"""``streaming-rag chat [-k N] [--kb NAME] [--url URL]``: a conversation on the terminal.

Each line you type is a question; every answer streams as ``ask`` prints it, and the
turns so far travel as ``chat_history``, so a follow-up ("and how does it scale?") is
searched by its standalone question. ``/new`` starts a new conversation; an empty line,
``/exit`` or end of input (Ctrl-D) ends it. Only answers that finished join the history:
a turn that ended in an ``error`` is left out, so the next question does not build on it.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
from typing import Any

from rich.console import Console

from app.cli.ask import print_events, read_remote_events
from app.cli.serve import model_server
from app.settings import Settings
from chains.conversation import MAX_HISTORY_MESSAGES
from chains.events import Ask


def cmd_chat(args: argparse.Namespace) -> int:
    """Run the conversation loop until the user ends it; exit status 0."""
    if args.url:
        return asyncio.run(
            _converse(functools.partial(read_remote_events, args.url), args.k, args.kb)
        )
    from app.services import build_services

    settings = Settings()
    with model_server(settings):
        stream = build_services(settings).event_stream
        return asyncio.run(_converse(stream.astream, args.k, args.kb))


async def _converse(ask: Ask, k: int | None, kb: str = "") -> int:
    """Read questions, stream answers, keep the history (the newest 20 messages)."""
    out = Console(highlight=False)
    out.print("[dim]Ask a question; /new starts over, an empty line or /exit ends.[/dim]")
    history: list[dict[str, str]] = []
    while True:
        try:
            question = (await asyncio.to_thread(input, "\nyou> ")).strip()
        except EOFError:
            question = ""
        if question in ("", "/exit"):
            return 0
        if question == "/new":
            history.clear()
            out.print("[dim]New conversation.[/dim]")
            continue
        request: dict[str, Any] = {"question": question, "chat_history": history}
        if k:
            request["k"] = k
        if kb:
            request["kb"] = kb
        last = await print_events(ask(request))
        if last is not None and last.type == "done":
            history.append({"role": "user", "content": question})
            if last.answer.strip():  # an empty message would be refused (422) next time
                history.append({"role": "assistant", "content": last.answer})
            del history[:-MAX_HISTORY_MESSAGES]
