"""``streaming-rag mcp``: the MCP server over stdio, for a desktop client to start.

Claude Desktop, Claude Code and Cursor start it from their configuration file and talk
to it on its standard input and output; everything else it prints (the model server
starting, progress) goes to standard error. It serves the same tools as ``/mcp``, in
process, as the principal of ``RAG_MCP_KEY`` (the open service's when no key is
configured anywhere), starts the local model server when the settings need it, and,
as ``serve`` does, indexes the sample knowledge base into an empty store.
"""

from __future__ import annotations

import argparse
import asyncio

from app.cli.serve import index_sample_docs_if_empty, model_server
from app.settings import Settings
from chains.errors import StreamingRagError


def cmd_mcp(args: argparse.Namespace) -> int:
    """Serve MCP on stdin/stdout until the client closes them."""
    from app.mcp_server import build_mcp_server
    from app.services import build_services

    settings = Settings()
    with model_server(settings):
        services = build_services(settings)
        index_sample_docs_if_empty(services)

        async def serve() -> None:
            key = settings.mcp_key.get_secret_value() if settings.mcp_key else None
            caller = await services.access.resolve(f"Bearer {key}" if key else None)
            if key and not caller.is_authenticated:
                raise StreamingRagError("RAG_MCP_KEY is unknown or revoked")
            try:
                await build_mcp_server(services, local_caller=caller).run_stdio_async()
            finally:
                await services.close()

        asyncio.run(serve())
    return 0
