"""Conversations: the bounded chat history a follow-up carries, and its standalone question.

A follow-up such as "and how does it scale?" searches badly on its own: "it" is in the
history. How it is searched is :mod:`chains.follow_ups`: joined to the earlier question,
with no model call (``RAG_FOLLOW_UP_SEARCH=joined``, the default, measured best in bench
section 15). This module holds the history itself and the model rewrite, which the other
two modes use as a wave of its own:

- **The condenser** rewrites the earlier question + the follow-up into a standalone
  question (:data:`CONDENSE_PROMPT`, few-shot); a wave searches it unless it brings words
  found neither in the conversation nor in the follow-up
  (:func:`~chains.follow_ups.foreign_words`). An empty or failed rewrite falls back to
  the raw question (:func:`standalone_question`), so it never fails an answer.

The answer prompt carries the history after the fixed instructions and sources
(:data:`~chains.prompt.RAG_PROMPT`), trimmed to the newest messages that fit
:data:`HISTORY_PROMPT_TOKENS`, so a long conversation never overflows the engine's
context window.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, trim_messages
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, FewShotChatMessagePromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_log = logging.getLogger("streaming_rag.conversation")

MAX_HISTORY_MESSAGES = 20
"""Most messages a request's ``chat_history`` may hold; more is a 422."""

MAX_MESSAGE_CHARS = 2000
"""Longest message in a history: the same bound as a question."""

HISTORY_PROMPT_TOKENS = 600
"""The history's share of a prompt, in approximate tokens (4 characters each): with the
instructions, four 800-character sources, a long question and a 256-token answer it
fits the local engine's 2,048-token slot. Older messages beyond it are left out."""

REWRITE_MAX_WORDS = 30
"""A question longer than this is taken to stand on its own: no rewrite."""

REWRITE_MAX_TOKENS = 48
"""Bound of the condenser's output: one question, not an essay."""

_ROLE_ALIASES = {"human": "user", "ai": "assistant", "user": "user", "assistant": "assistant"}


def _either_role_or_type(schema: dict[str, Any]) -> None:
    """Declare LangChain's ``type`` form too: the playground's form validates against it."""
    schema["properties"]["type"] = {
        "enum": ["human", "ai"],
        "type": "string",
        "description": "LangChain's name for the role: human (user) or ai (assistant)",
    }
    schema["required"] = ["content"]
    schema["anyOf"] = [{"required": ["role"]}, {"required": ["type"]}]


class ChatMessage(BaseModel):
    """One earlier turn of the conversation: who said it and what.

    Also accepts LangChain's forms, so every client's history validates: a message
    object (``HumanMessage``/``AIMessage``) and its JSON (``{"type": "human", ...}``),
    which LangServe's playground and ``RemoteRunnable`` send.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_either_role_or_type)

    role: Literal["user", "assistant"] = Field(description="user or assistant")
    content: str = Field(max_length=MAX_MESSAGE_CHARS, description="what was said")

    @model_validator(mode="before")
    @classmethod
    def _from_langchain(cls, data: Any) -> Any:
        if isinstance(data, BaseMessage):
            data = {"type": data.type, "content": data.content}
        if isinstance(data, dict) and "role" not in data and "type" in data:
            kind = data["type"]
            role = _ROLE_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
            data = {"role": role, "content": data.get("content")}
        return data

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a message must not be empty or whitespace")
        return value.strip()


ChatHistory = Annotated[
    list[ChatMessage],
    Field(
        max_length=MAX_HISTORY_MESSAGES,
        description="Earlier turns, oldest first, as {role: user|assistant, content}; "
        f"at most {MAX_HISTORY_MESSAGES} messages. [] for a first question.",
    ),
]
"""A request's ``chat_history`` field, bounded."""


def as_messages(history: Sequence[ChatMessage]) -> list[BaseMessage]:
    """The newest messages of ``history`` that fit :data:`HISTORY_PROMPT_TOKENS`.

    The kept part starts on a user message, so the model never reads an answer whose
    question was cut. Example:
        >>> as_messages([ChatMessage(role="user", content="What is HNSW?")])
        [HumanMessage(content='What is HNSW?', ...)]

    """
    messages: list[BaseMessage] = [
        HumanMessage(m.content) if m.role == "user" else AIMessage(m.content) for m in history
    ]
    if not messages:
        return []
    return trim_messages(
        messages,
        max_tokens=HISTORY_PROMPT_TOKENS,
        token_counter=count_tokens_approximately,
        strategy="last",
        start_on="human",
        allow_partial=False,
    )


CONDENSE_SYSTEM = "You rewrite follow-up questions so they name their subject. You never answer."

_CONDENSE_EXAMPLES = [
    {"earlier": "What is Redis?", "question": "How fast is it?", "rewritten": "How fast is Redis?"},
    {
        "earlier": "What is Kubernetes?",
        "question": "Who created it?",
        "rewritten": "Who created Kubernetes?",
    },
    {
        "earlier": "What are webhooks?",
        "question": "How are they secured?",
        "rewritten": "How are webhooks secured?",
    },
]

_CONDENSE_TURN = (
    "Earlier question: {earlier}\nFollow-up question: {question}\n"
    "Rewrite the follow-up question so it names its subject."
)

CONDENSE_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", CONDENSE_SYSTEM),
        FewShotChatMessagePromptTemplate(
            examples=_CONDENSE_EXAMPLES,
            example_prompt=ChatPromptTemplate.from_messages(
                [("human", _CONDENSE_TURN), ("ai", "{rewritten}")]
            ),
        ),
        ("human", _CONDENSE_TURN),
    ]
)
"""The contextualize prompt: the earlier question + the follow-up → one standalone question.

Departure from LangChain's history-aware retriever prompt, which puts the whole history
in a ``MessagesPlaceholder``: the bundled SmolLM2-135M then continues the conversation
and answers (6 of 6 sample follow-ups, measured 2026-12-02). Shown worked examples as
chat turns and the earlier question as text, it rewrote 4 of 6 exactly and named the
subject in a fifth, in about 190 ms.
"""


def build_condenser(llm: BaseChatModel) -> Runnable[dict[str, Any], str]:
    """``{"earlier", "question"}`` → the standalone question, as the model wrote it.

    Greedy (temperature 0) and short (:data:`REWRITE_MAX_TOKENS`); use it through
    :func:`standalone_question`, which cleans the text and falls back on failure.
    """
    model = llm.bind(temperature=0.0, max_tokens=REWRITE_MAX_TOKENS)
    return (CONDENSE_PROMPT | model | StrOutputParser()).with_config(run_name="condense_question")


def earlier_question(history: Sequence[ChatMessage]) -> str:
    """The newest user message of ``history``: what a follow-up's pronoun points back to."""
    return next((m.content for m in reversed(history) if m.role == "user"), "")


_LABEL = re.compile(r"^\s*(rewritten|standalone question|question)\s*:\s*", re.IGNORECASE)


def clean_rewrite(text: str) -> str:
    r"""The first line of the condenser's reply, without a label or quotes ("" if none).

    Example:
        >>> clean_rewrite('Rewritten: "How fast is Redis?"\\nRedis is fast.')
        'How fast is Redis?'

    """
    line = next((part for part in text.strip().splitlines() if part.strip()), "")
    return _LABEL.sub("", line).strip().strip("\"'`").strip()[:MAX_MESSAGE_CHARS]


async def standalone_question(
    condenser: Runnable[dict[str, Any], str],
    question: str,
    history: Sequence[ChatMessage],
    config: RunnableConfig | None = None,
) -> str:
    """``question`` rewritten to stand alone; the raw question when the rewrite fails.

    A failed rewrite (the model down, a timeout, an empty reply) is logged and never
    fails the answer: wave 1 already searched the raw question.
    """
    try:
        written = await condenser.ainvoke(
            {"earlier": earlier_question(history), "question": question}, config
        )
    except Exception as exc:  # the answer goes on with the raw question
        _log.warning("the follow-up's rewrite failed, searching the raw question: %s", exc)
        return question
    return clean_rewrite(written) or question
