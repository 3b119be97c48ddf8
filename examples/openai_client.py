"""Ask a running streaming-rag through the official `openai` package, sources first.

Run the service (`make run`), then:
`.venv/bin/python examples/openai_client.py "What is SSE?" [--url http://127.0.0.1:8000/v1]`
"""

import argparse
import os

from openai import OpenAI

parser = argparse.ArgumentParser(description="Ask streaming-rag over the OpenAI protocol.")
parser.add_argument("question", nargs="?", default="What is time to first token?")
parser.add_argument("--url", default="http://127.0.0.1:8000/v1")
args = parser.parse_args()

# The key: yours when the server protects reads (RAG_API_KEY), anything otherwise.
client = OpenAI(base_url=args.url, api_key=os.environ.get("RAG_API_KEY", "unused"))
messages = [{"role": "user", "content": args.question}]
for chunk in client.chat.completions.create(model="rag", messages=messages, stream=True):
    for source in (chunk.model_extra or {}).get("sources", []):
        print(f"[{source['cite']}] {source['score']:.2f} {source['metadata'].get('source')}")
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()
