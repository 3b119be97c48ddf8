"""The bare baseline: retrieve, then stream the LLM's deltas as plain text.

No LangChain runnable, no callbacks, no queue, no events: a FastAPI
``StreamingResponse`` over the OpenAI client, searching the same Chroma collection
with the same embedding model. Its CPU per token is the floor the benchmarks hold
``/rag/sse`` against.

Run: ``python -m bench.baseline_app --port 8302`` (settings from the ``RAG_*`` env).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import openai
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from langchain_core.documents import Document
from pydantic import BaseModel

from app.settings import Settings
from chains.embeddings import build_embeddings
from chains.events import cite_key
from chains.prompt import RAG_PROMPT, format_sources
from chains.store import build_chroma_client, build_vector_store

settings = Settings()
store = build_vector_store(
    build_chroma_client(path=settings.chroma_path), settings.collection, build_embeddings("local")
)
client = openai.AsyncOpenAI(base_url=settings.effective_llm_base_url, api_key="unused")
app = FastAPI()


class Question(BaseModel):
    question: str
    k: int = 4


def _messages(question: str, documents: list[Document]) -> list[dict[str, str]]:
    for rank, doc in enumerate(documents):
        doc.metadata["cite"] = cite_key(rank)
    prompt = RAG_PROMPT.format_messages(context=format_sources(documents), question=question)
    roles = {"system": "system", "human": "user"}
    return [{"role": roles[m.type], "content": str(m.content)} for m in prompt]


@app.post("/naive")
async def naive(body: Question) -> StreamingResponse:
    documents = await store.asimilarity_search(body.question, k=body.k)

    async def deltas() -> AsyncIterator[str]:
        stream = await client.chat.completions.create(
            model=settings.llm_model or "",
            messages=_messages(body.question, documents),  # type: ignore[arg-type]
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            stream=True,
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content + "\n"

    return StreamingResponse(deltas(), media_type="text/plain")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning")
