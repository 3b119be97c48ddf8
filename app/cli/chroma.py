"""``streaming-rag chroma``: a Chroma server that several API workers and the CLI share."""

from __future__ import annotations

import argparse
import time

from app.cli._console import console
from app.engines.chroma_server import ChromaServer
from app.settings import Settings


def cmd_chroma(args: argparse.Namespace) -> int:
    """Run ``chroma run`` on loopback until Ctrl-C; data stays in ``--path``.

    On SIGTERM this process ends at once and the server with it (it dies with its parent).
    """
    settings = Settings()
    path = args.path or settings.data_dir / "chroma-server"
    server = ChromaServer(path=path, port=args.port, log_path=path / "chroma.log")
    with console.status(f"starting Chroma on port {args.port}..."):
        server.start()
    console.print(
        f"Chroma server at {server.url}, data in {path}\n"
        f"use it:  RAG_CHROMA_HOST=127.0.0.1 RAG_CHROMA_PORT={args.port} streaming-rag serve"
    )
    try:
        while server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
        console.print("[red]the Chroma server exited[/red]")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
