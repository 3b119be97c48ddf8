"""Stream an answer from a running streaming-rag with LangServe's RemoteRunnable.

Run the service (`make run`), then:
`.venv/bin/python examples/remote_client.py "What is SSE?" [--url http://127.0.0.1:8000/rag]`
"""

from __future__ import annotations

import argparse
import asyncio

from langserve import RemoteRunnable


async def main(question: str, url: str) -> None:
    rag = RemoteRunnable(url)
    async for chunk in rag.astream({"question": question, "k": 3}):
        for source in chunk.get("sources", []):
            print(f"[{source['cite']}] {source['score']:.2f} {source['metadata']['source']}")
        print(chunk.get("answer", ""), end="", flush=True)
    print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Ask a running streaming-rag one question.")
    parser.add_argument("question", nargs="?", default="What is time to first token?")
    parser.add_argument("--url", default="http://127.0.0.1:8000/rag")
    args = parser.parse_args()
    asyncio.run(main(args.question, args.url))
