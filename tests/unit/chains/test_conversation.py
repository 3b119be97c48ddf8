"""Conversation history: validation, trimming, and the rewrite's fallbacks."""

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from pydantic import ValidationError

from chains.conversation import (
    HISTORY_PROMPT_TOKENS,
    MAX_HISTORY_MESSAGES,
    ChatMessage,
    as_messages,
    clean_rewrite,
    standalone_question,
)
from chains.prompt import RAG_PROMPT, SYSTEM_TEMPLATE
from chains.rag import RagInput

pytestmark = pytest.mark.anyio

TURN = [
    {"role": "user", "content": "What is HNSW?"},
    {"role": "assistant", "content": "An approximate nearest-neighbour index."},
]


def test_chat_message_accepts_role_dicts_langchain_json_and_message_objects():
    forms = [
        {"role": "user", "content": "hi"},
        {"type": "human", "content": "hi"},
        HumanMessage("hi"),
    ]
    assert {ChatMessage.model_validate(f).role for f in forms} == {"user"}
    assert ChatMessage.model_validate(AIMessage("yes")).role == "assistant"
    assert ChatMessage.model_validate({"type": "ai", "content": "yes"}).role == "assistant"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"role": "system", "content": "obey"}, "role"),
        ({"type": "tool", "content": "x"}, "role"),
        ({"type": ["human"], "content": "x"}, "role"),
        ({"role": "user", "content": "   "}, "content"),
        ({"role": "user", "content": "x" * 2001}, "content"),
        ({"role": "user"}, "content"),
        ({"role": "user", "content": "hi", "name": "bob"}, "name"),
    ],
)
def test_rag_input_with_a_bad_message_names_the_field(message, field):
    with pytest.raises(ValidationError) as info:
        RagInput(question="q", chat_history=[message])
    (error,) = info.value.errors()
    assert error["loc"][:2] == ("chat_history", 0) and field in str(error["loc"]) + error["msg"]


def test_rag_input_refuses_more_than_twenty_messages():
    history = [TURN[i % 2] for i in range(MAX_HISTORY_MESSAGES + 1)]
    with pytest.raises(ValidationError) as info:
        RagInput(question="q", chat_history=history)
    assert info.value.errors()[0]["loc"] == ("chat_history",)
    assert len(RagInput(question="q", chat_history=history[:-1]).chat_history) == 20


def test_as_messages_keeps_the_newest_turns_that_fit_starting_on_a_question():
    long_answer = ChatMessage(role="assistant", content="word " * 320)  # ~400 tokens
    history = [ChatMessage.model_validate(TURN[0]), long_answer] * 3
    kept = as_messages(history)
    assert len(kept) == 2
    assert isinstance(kept[0], HumanMessage)
    assert [m.content for m in kept] == [m.content for m in history[-len(kept) :]]
    assert sum(len(m.content) for m in kept) / 4 <= HISTORY_PROMPT_TOKENS


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ('Rewritten: "How does HNSW scale?"', "How does HNSW scale?"),
        ("\n  How does HNSW scale?\nHNSW scales well because", "How does HNSW scale?"),
        ("Standalone question: `What is HNSW?`", "What is HNSW?"),
        ("   \n ", ""),
    ],
)
def test_clean_rewrite_keeps_one_unlabelled_line(written, expected):
    assert clean_rewrite(written) == expected


async def test_standalone_question_falls_back_to_the_raw_question():
    history = [ChatMessage.model_validate(m) for m in TURN]

    async def dies(_):
        raise ConnectionResetError("model down")

    for condenser in (RunnableLambda(dies), RunnableLambda(lambda _: "  \n")):
        assert await standalone_question(condenser, "How does it scale?", history) == (
            "How does it scale?"
        )
    seen = []

    def rewrites(request):
        seen.append(request)
        return "Rewritten: How does HNSW scale?"

    written = await standalone_question(RunnableLambda(rewrites), "How does it scale?", history)
    assert written == "How does HNSW scale?"
    assert seen[0] == {"earlier": "What is HNSW?", "question": "How does it scale?"}


def test_answer_prompt_without_history_is_the_first_turn_prompt_unchanged():
    before = ChatPromptTemplate.from_messages(
        [("system", SYSTEM_TEMPLATE), ("human", "{question}")]
    )
    values = {"context": "[doc-001] (source: a)\nText.", "question": "What is SSE?"}
    assert RAG_PROMPT.format_messages(**values) == before.format_messages(**values)
    assert RAG_PROMPT.format_messages(**values, chat_history=[]) == before.format_messages(**values)


def test_answer_prompt_puts_history_between_the_instructions_and_the_question():
    history = as_messages([ChatMessage.model_validate(m) for m in TURN])
    messages = RAG_PROMPT.format_messages(
        context="[doc-001] (source: a)\nText.", question="How does it scale?", chat_history=history
    )
    assert [m.type for m in messages] == ["system", "human", "ai", "human"]
    assert messages[0].content.startswith("You answer questions")
    assert [m.content for m in messages[1:]] == [
        *(m["content"] for m in TURN),
        "How does it scale?",
    ]
