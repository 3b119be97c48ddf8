"""The LCEL RAG chain: scored retrieval, the citing prompt, the streaming chat model.

Its streamed output is sources first: the first chunk is ``{"sources": [...]}`` and every
later chunk is ``{"answer": "<delta>"}``, so even plain ``/rag/stream`` shows sources
before the first token. ``RunnablePassthrough.assign`` yields its passthrough keys before
the mapper's output, which is what makes that order deterministic, not a race.
"""

from __future__ import annotations

from typing import Any, TypeVar

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import (
    Runnable,
    RunnableBranch,
    RunnableConfig,
    RunnableLambda,
    RunnablePassthrough,
    RunnablePick,
)
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo

from chains.conversation import ChatHistory, as_messages
from chains.events import MetadataValue, Source
from chains.follow_ups import joined_search
from chains.knowledge_bases import KbName, kb_option
from chains.prompt import RAG_PROMPT, format_sources

MAX_QUESTION_CHARS = 2000
"""Longest question accepted; longer input is a 422, not a truncated prompt."""

MAX_K = 20
DEFAULT_K = 4

NOT_IN_KNOWLEDGE_BASE = "I could not find this in the knowledge base."
"""The answer when no source clears ``RAG_MIN_SCORE`` even after widening; no model call."""


# Every optional field has a concrete default rather than None: the LangServe playground's
# form renderer rejects null defaults and {"type": "null"} schema branches.
class RagInput(BaseModel):
    """A question, how many sources, a metadata filter, the earlier turns, the knowledge base."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(..., description="The question to answer.", max_length=MAX_QUESTION_CHARS)
    k: int = Field(DEFAULT_K, ge=1, le=MAX_K, description="How many sources to retrieve.")
    filter: dict[str, MetadataValue] = Field(
        default_factory=dict,
        description='Flat metadata equality filter, e.g. {"topic": "streaming"}; {} for none.',
    )
    chat_history: ChatHistory = []
    kb: KbName = ""

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_string(cls, data: Any) -> Any:
        return {"question": data} if isinstance(data, str) else data

    @field_validator("filter", mode="before")
    @classmethod
    def _flat_mapping(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not (
            isinstance(value, dict) and all(isinstance(v, MetadataValue) for v in value.values())
        ):
            raise ValueError(
                "filter must be a flat mapping of metadata key to a string, number or boolean"
            )
        return value

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must not be empty or whitespace")
        return value.strip()


M = TypeVar("M", bound=RagInput)


def rag_input_model(default_k: int, base: type[M] = RagInput, **defaults: Any) -> type[M]:  # type: ignore[assignment]
    """``base`` (:class:`RagInput` or a subclass) with ``k`` defaulting to ``default_k``.

    ``defaults`` sets other fields' defaults the same way (``progressive=True``). Only the
    defaults change: each field's bounds, description and aliases stay the base's.
    """
    if not 1 <= default_k <= MAX_K:
        raise ValueError(f"default_k must be in 1..{MAX_K}, got {default_k}")
    fields: dict[str, Any] = {
        name: (
            base.model_fields[name].annotation,
            FieldInfo.merge_field_infos(base.model_fields[name], default=value),
        )
        for name, value in {"k": default_k, **defaults}.items()
    }
    model: type[M] = create_model(base.__name__, __base__=base, __doc__=base.__doc__, **fields)
    return model


class RagOutput(BaseModel):
    """The chain's output: the sources, then the answer."""

    sources: list[Source] = Field(default_factory=list)
    answer: str = ""


def build_answer_chain(
    llm: BaseChatModel, prompt: ChatPromptTemplate = RAG_PROMPT
) -> Runnable[dict[str, Any], str]:
    """The generation half: ``{"context", "question", "chat_history"?}`` → model → text."""
    return (prompt | llm | StrOutputParser()).with_config(run_name="answer")


def _no_documents(request: dict[str, Any]) -> bool:
    return not request["documents"]


def _not_found(request: dict[str, Any]) -> str:
    return NOT_IN_KNOWLEDGE_BASE


def build_rag_chain(
    retriever: BaseRetriever,
    llm: BaseChatModel,
    *,
    default_k: int = 4,
    prompt: ChatPromptTemplate = RAG_PROMPT,
) -> Runnable[Any, dict[str, Any]]:
    """Compose retrieval, prompt, model and parser into the sources-first RAG chain.

    ``prompt`` takes ``context`` (the formatted sources), ``question`` and the optional
    ``chat_history`` messages; the answer quality benchmark scores variants of it. When
    the retriever finds nothing (see :mod:`chains.widening`), the answer is
    :data:`NOT_IN_KNOWLEDGE_BASE` and no model request is made.

    A follow-up that leans on its history (:func:`~chains.follow_ups.needs_rewrite`) is
    searched joined to the earlier question (:func:`~chains.follow_ups.follow_up_query`):
    this chain's single ``sources`` chunk cannot be revised, and it does not wait for a
    model rewrite that may have to be discarded. The typed event stream
    (:mod:`callbacks.event_stream`) searches the same at once, and a checked standalone
    question as a later wave.

    Example:
        >>> chain = build_rag_chain(ScoredRetriever(vectorstore=store), llm)
        >>> async for chunk in chain.astream({"question": "What is TTFT?", "k": 2}):
        ...     print(chunk)  # {'sources': [...]}, then {'answer': 'T'}, {'answer': 'TFT'}...

    """
    input_model: type[RagInput] = rag_input_model(default_k)

    def normalize(raw: Any) -> dict[str, Any]:
        request = input_model.model_validate(raw)
        return {
            **request.model_dump(exclude={"chat_history"}),
            "turns": request.chat_history,
            "chat_history": as_messages(request.chat_history),
        }

    def search_query(request: dict[str, Any]) -> str:
        question: str = request["question"]
        return joined_search(question, request["turns"]) or question

    async def retrieve(request: dict[str, Any], config: RunnableConfig) -> list[Document]:
        return await retriever.ainvoke(
            request["search_query"],
            config,
            k=request["k"],
            filter=request["filter"],
            **kb_option(request["kb"]),
        )

    def to_sources(request: dict[str, Any]) -> list[dict[str, Any]]:
        documents = request["documents"]
        return [Source.from_document(doc, i).model_dump() for i, doc in enumerate(documents)]

    def to_context(request: dict[str, Any]) -> str:
        return format_sources(request["documents"])

    answer = RunnableBranch(
        (_no_documents, RunnableLambda(_not_found, name="not_in_knowledge_base")),
        build_answer_chain(llm, prompt),
    )
    chain = (
        RunnableLambda(normalize, name="normalize_input")
        | RunnablePassthrough.assign(search_query=RunnableLambda(search_query, name="search_query"))
        | RunnablePassthrough.assign(documents=RunnableLambda(retrieve, name="retrieve"))
        | RunnablePassthrough.assign(sources=to_sources, context=to_context)
        | RunnablePassthrough.assign(answer=answer)
        | RunnablePick(["sources", "answer"])
    )
    return chain.with_types(input_type=input_model, output_type=RagOutput).with_config(
        run_name="rag"
    )
