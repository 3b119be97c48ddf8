"""Section 10: answer quality, measured with citations that must be *supported*.

The real RAG chain (retriever, prompt, ``ChatOpenAI``) answers fixed questions over the
sample knowledge base: one per document, each with the document that holds its answer,
plus questions whose answer is in no document. A citation counts only when it is
supported: the sentence that carries it is close to the cited chunk, by cosine
similarity of the project's own embeddings (all-MiniLM-L6-v2). A key attached to an
invented sentence counts against, so forcing a key after every sentence does not score.

The threshold is calibrated on the knowledge base itself, in each run
(:mod:`bench.support_judge`).

Any OpenAI-compatible endpoint can be scored the same way:
``python -m bench.quality --base-url URL --model NAME`` (key from ``RAG_LLM_API_KEY``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.prompts import ChatPromptTemplate

from app.sample_docs import load_sample_documents
from bench.report import Section
from bench.support_judge import Calibration, Score, calibrate, score
from chains.chunking import build_splitter
from chains.embeddings import build_embeddings
from chains.ingest import Ingestor
from chains.llm import build_chat_model
from chains.prompt import RAG_PROMPT, SYSTEM_TEMPLATE
from chains.rag import build_rag_chain
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store

QUESTIONS: list[tuple[str, str | None]] = [
    ("What are the two steps of retrieval-augmented generation?", "rag-overview"),
    ("Why is RAG cheaper to update than fine-tuning?", "rag-vs-finetuning"),
    ("Why are documents split into chunks before embedding?", "chunking"),
    ("How does streaming-rag derive chunk ids?", "chunk-ids"),
    ("How many dimensions does all-MiniLM-L6-v2 produce?", "embeddings"),
    ("What does a cosine similarity of 0 mean?", "cosine-similarity"),
    ("How does an HNSW search walk through its layers?", "hnsw"),
    ("What is the difference between PersistentClient and HttpClient in Chroma?", "chroma"),
    ("How can a retrieval request search only chunks about one topic?", "metadata-filters"),
    ("What does keyword search find that embeddings blur?", "hybrid-search"),
    ("Which browser API reads server-sent events?", "sse"),
    ("Why do people judge speed by the first thing they see?", "streaming-why"),
    ("Why send the sources before the model writes its answer?", "sources-first"),
    ("What happens when a client reads the stream slowly?", "backpressure"),
    ("What does the server do when the user closes the page mid-answer?", "cancellation"),
    ("How does the citation tracker handle a key split across tokens?", "citations"),
    ("What is a hallucination?", "hallucination"),
    ("What is time to first token?", "ttft"),
    ("How many tokens per second feel instant to a reader?", "tokens-per-second"),
    ("Which format does the /metrics endpoint use?", "prometheus"),
    ("How does LCEL compose runnables?", "langchain-lcel"),
    ("Which endpoints does LangServe's add_routes mount?", "langserve"),
    ("Which model serves answers when streaming-rag runs offline?", "local-model"),
    ("Which stages does an uploaded document go through?", "ingestion-status"),
    ("What is the capital of Australia?", None),
    ("Who won the football world cup in 2014?", None),
    ("How many calories are in a banana?", None),
    ("What is the boiling point of ethanol?", None),
    ("Who painted the Mona Lisa?", None),
]
"""Each question with the document that answers it; ``None``: no document does."""

MAX_TOKENS = 160

_INSTRUCTIONS = SYSTEM_TEMPLATE.split("<sources>", 1)[0].rstrip()

PROMPTS: dict[str, ChatPromptTemplate] = {
    "default": RAG_PROMPT,
    "example": ChatPromptTemplate.from_messages(
        [
            (
                "system",
                SYSTEM_TEMPLATE.replace(
                    "for example [doc-001].",
                    "for example [doc-001].\nExample answer: Chroma stores vectors on disk [doc-002].",
                ),
            ),
            ("human", "{question}"),
        ]
    ),
    "user-turn": ChatPromptTemplate.from_messages(
        [
            ("system", _INSTRUCTIONS),
            ("human", "<sources>\n{context}\n</sources>\n\nQuestion: {question}"),
        ]
    ),
}
"""The shipped prompt and two variants; every one keeps its fixed instructions first."""

async def answer_all(
    retriever: ScoredRetriever, llm: Any, prompt: ChatPromptTemplate, *, concurrency: int = 4
) -> list[dict[str, Any]]:
    """Every question through the real chain, ``concurrency`` at a time."""
    chain = build_rag_chain(retriever, llm, prompt=prompt)
    gate = asyncio.Semaphore(concurrency)

    async def one(question: str, expected: str | None) -> dict[str, Any]:
        async with gate:
            output = await chain.ainvoke({"question": question, "k": 4})
        return {"question": question, "expected": expected, **output}

    return await asyncio.gather(*(one(q, e) for q, e in QUESTIONS))


async def knowledge_base(embeddings: Embeddings, directory: Path) -> ScoredRetriever:
    """The sample knowledge base in a fresh collection, indexed by the one pipeline."""
    store = build_vector_store(build_chroma_client(path=directory), "quality", embeddings)
    async for event in Ingestor(store, build_splitter()).run(load_sample_documents()):
        if event.type in ("doc_error", "error"):
            raise RuntimeError(f"indexing the knowledge base failed: {event}")
    return ScoredRetriever(vectorstore=store)


def kb_chunks(retriever: ScoredRetriever) -> list[str]:
    """Every chunk of the knowledge base, for calibration."""
    return list(retriever.vectorstore.get(include=["documents"])["documents"])


def table(scores: dict[str, Score]) -> str:
    answerable = sum(1 for _, e in QUESTIONS if e is not None)
    absent = len(QUESTIONS) - answerable
    lines = [
        "| configuration | any citation | ≥ 1 supported citation | supported citation of the "
        "expected source | answer sentences supported | absent questions declined |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in scores.items():
        lines.append(f"| {name} | " + " | ".join(s.row(answerable, absent)) + " |")
    return "\n".join(lines)


CONFIGS = [
    ("Q4_1", "default"),
    ("Q4_0", "default"),
    ("Q4_0", "example"),
    ("Q4_0", "user-turn"),
    ("Q8_0", "default"),
]
"""Model file and prompt of each scored configuration; Q4_0 with the default prompt ships."""


async def run(
    work: Path, logs: Path, retriever: ScoredRetriever, embeddings: Embeddings
) -> dict[str, Any]:
    """Score every configuration on llama-server, one engine per model file at a time."""
    from app.engines.llama_server import LocalModelServer
    from app.engines.model_file import local_model_file
    from app.settings import LOCAL_MODEL_ALIAS
    from bench.harness import free_port

    calibration = calibrate(embeddings, kb_chunks(retriever))
    scores: dict[str, Score] = {}
    for quant in dict.fromkeys(q for q, _ in CONFIGS):
        model = local_model_file(quant, work / "models")  # type: ignore[arg-type]
        with LocalModelServer(
            model_path=model, port=free_port(), log_path=logs / f"quality-{quant}.log"
        ) as server:
            llm = build_chat_model(
                model=LOCAL_MODEL_ALIAS,
                base_url=server.base_url,
                temperature=0.0,
                max_tokens=MAX_TOKENS,
            )
            for prompt in [p for q, p in CONFIGS if q == quant]:
                results = await answer_all(retriever, llm, PROMPTS[prompt])
                scores[f"{quant}, {prompt} prompt"] = score(
                    embeddings, results, calibration.threshold
                )
            await llm.http_async_client.aclose()
    return {"scores": scores, "calibration": calibration}


def section(r: dict[str, Any]) -> Section:
    scores: dict[str, Score] = r["scores"]
    cal: Calibration = r["calibration"]
    answerable = sum(1 for _, e in QUESTIONS if e is not None)
    shipped, bundled = scores["Q4_0, default prompt"], scores["Q4_1, default prompt"]
    slack = max(1, answerable // 20)
    share = lambda s: s.supported_sentences / max(s.sentences, 1)  # noqa: E731
    not_worse = (
        shipped.with_supported >= bundled.with_supported - slack
        and shipped.expected_supported >= bundled.expected_supported - slack
        and shipped.declined >= bundled.declined - 1
        and share(shipped) >= share(bundled) - 0.05
    )
    examples = "\n".join(
        f"- *{a['question']}* → {a['answer'][:220].strip()!r}"
        for a in shipped.answers[:3] + shipped.answers[-2:]
    )
    body = f"""
{answerable} questions whose answer is in one sample document, and
{len(QUESTIONS) - answerable} whose answer is in none, through the real chain (`k=4`,
temperature 0, `max_tokens` {MAX_TOKENS}) on `llama-server`. A citation is *supported* when
the sentence carrying it has cosine similarity ≥ **{cal.threshold:.3f}** with the cited
chunk (all-MiniLM-L6-v2). The threshold is calibrated in this run on the knowledge base:
a chunk's own sentences against it ({cal.positives} pairs) pass {cal.true_positive_rate:.0%},
sentences of other chunks ({cal.negatives} pairs) pass {cal.false_positive_rate:.0%}.
"Answer sentences supported" is the share of answer sentences (3 words or more) that
some retrieved chunk supports: a faithfulness proxy. "Declined" means the answer says the
sources do not hold it.

{table(scores)}

The shipped default (Q4_0, default prompt) against the bundled Q4_1, allowed to be worse
by at most {slack} question(s) in {answerable} on each supported rate: {"**met**" if not_worse else "**missed**"}.

Sample answers of the shipped default:

{examples}

Score another model: `python -m bench.quality --base-url URL --model NAME`.
"""
    return Section(
        10,
        "Answer quality: supported citations",
        body,
        None,
        [
            f"Answer quality (Q4_0, default prompt): {shipped.with_supported}/{answerable} answers "
            f"with a supported citation, {shipped.expected_supported}/{answerable} citing the right "
            f"source, {share(shipped):.0%} of sentences supported, "
            f"{shipped.declined}/{len(QUESTIONS) - answerable} absent answers declined.",
        ],
    )


async def score_endpoint(base_url: str, model: str, prompt: str) -> None:
    """Print the quality table of one OpenAI-compatible endpoint."""
    embeddings = build_embeddings("local")
    retriever = await knowledge_base(embeddings, Path(tempfile.mkdtemp()) / "chroma")
    calibration = calibrate(embeddings, kb_chunks(retriever))
    llm = build_chat_model(
        model=model,
        base_url=base_url,
        api_key=os.environ.get("RAG_LLM_API_KEY"),
        temperature=0.0,
        max_tokens=MAX_TOKENS,
    )
    results = await answer_all(retriever, llm, PROMPTS[prompt])
    print(f"support threshold (cosine): {calibration.threshold:.3f}")
    print(table({f"{model}, {prompt} prompt": score(embeddings, results, calibration.threshold)}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Score an OpenAI-compatible model's answers.")
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8081/v1")
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompt", choices=sorted(PROMPTS), default="default")
    args = parser.parse_args()
    asyncio.run(score_endpoint(args.base_url, args.model, args.prompt))
