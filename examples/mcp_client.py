"""Search and ask a running streaming-rag over MCP with the official `mcp` client.

Run the service (`make run`), then:
`.venv/bin/python examples/mcp_client.py "What is SSE?" [--url http://127.0.0.1:8000/mcp]`
"""

import argparse
import asyncio
import os

from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

parser = argparse.ArgumentParser(description="Search and ask streaming-rag over MCP.")
parser.add_argument("question", nargs="?", default="What is time to first token?")
parser.add_argument("--url", default="http://127.0.0.1:8000/mcp")
args = parser.parse_args()


async def progress(done: float, total: float | None, message: str | None) -> None:
    print(f"  … {message}")


async def main() -> None:
    # The key: yours when the server protects reads (RAG_API_KEY or a scoped key).
    key = os.environ.get("RAG_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else None
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(args.url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        found = await session.call_tool("search", {"query": args.question, "k": 3})
        for chunk in found.structuredContent["chunks"]:
            print(f"{chunk['id']} {chunk['score']:.2f} {chunk['uri']}")
        result = await session.call_tool(
            "ask", {"question": args.question}, progress_callback=progress
        )
        answer = result.structuredContent
        print(answer["answer"])
        for sentence in answer["grounding"]:
            mark = "✓" if sentence["supported"] else "✗"
            print(f"{mark} [{sentence['cite']}] {sentence['score']:.2f} {sentence['text'][:60]}")


asyncio.run(main())
