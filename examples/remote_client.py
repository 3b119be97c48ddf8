"""Stream an answer from a running streaming-rag with LangServe's RemoteRunnable.

Run the service (`make run`), then: `.venv/bin/python examples/remote_client.py "What is SSE?"`
"""

from __future__ import annotations

import asyncio
import sys

from langserve import RemoteRunnable


async def main(question: str, url: str = "http://127.0.0.1:8000/rag") -> None:
    rag = RemoteRunnable(url)
    async for event in rag.astream_events({"question": question, "k": 3}, version="v2"):
        if event["event"] == "on_retriever_end":
            for doc in event["data"]["output"]:
                meta = doc.metadata
                print(f"[{meta['cite']}] {meta['score']:.2f} {meta.get('source', '')}")
            print()
        elif event["event"] == "on_chat_model_stream":
            print(event["data"]["chunk"].content, end="", flush=True)
    print()


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "What is time to first token?"))
