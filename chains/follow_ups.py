"""How a follow-up is searched: whether it leans on the earlier turn, and what is searched.

A follow-up such as "And how do I bring it back later?" names nothing a search can
find: "it" is in the conversation. SmolLM2-135M cannot be trusted to rewrite it (it
copies its prompt's examples into rewrites, or repeats the earlier question), so the
search does not depend on a rewrite:

- :func:`needs_rewrite` decides whether a question leans on the earlier turn, measured
  on dialogues (bench section 15): phrases that always do ("the ones", "do the same", a
  leading "and"), a pointing word in a question that names few things of its own, or
  three words or fewer.
- :func:`follow_up_query` is what such a follow-up's first wave searches: the follow-up,
  then the earlier question.
- :func:`foreign_words` checks a model rewrite before its wave searches it: a rewrite
  that brings a word neither the conversation nor the follow-up holds is discarded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from chains.conversation import REWRITE_MAX_WORDS, ChatMessage, earlier_question
from chains.keyword import keyword_terms

REWRITE_MAX_TERMS = 4
"""A question with a pointing word leans on the earlier turn only when it names at most
this many things of its own (words other than stop words): "How do I run several
coroutines at the same time and wait for all of them?" points within itself."""

_LEANS_BACK = re.compile(
    r"\b(the ones?|that one|this one|which one|do the same|the same for|where i was|"
    r"as well|how so)\b|^\s*(and|but|or|so|also|then|what about|how about)\b",
    re.IGNORECASE,
)
"""Phrases that always lean on an earlier turn: "the ones", "do the same", a leading "and"."""

_POINTS = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|him|her|his|there|"
    r"former|latter|same|such|else|ones?|again|instead|too)\b",
    re.IGNORECASE,
)
"""Words that may point at an earlier turn, or within the question itself."""

# fmt: off
_GENERIC = frozenset({
    "use", "make", "get", "set", "find", "show", "list", "work", "mean", "way", "need",
    "want", "happen", "help", "explain", "describe", "tell", "know", "like", "good",
    "best", "better", "new", "different", "possible", "question", "answer", "thing",
    "step", "kind", "sort", "type",
})
"""Question words a rewrite may add without bringing a subject of its own."""
# fmt: on


def needs_rewrite(question: str, history: Sequence[ChatMessage]) -> bool:
    """Whether ``question`` leans on ``history``: only then is it condensed.

    Example:
        >>> needs_rewrite("How does it scale?", [ChatMessage(role="user", content="Chroma?")])
        True
        >>> needs_rewrite("How does Chroma scale?", [])  # a first turn
        False

    """
    words = question.split()
    if not history or len(words) > REWRITE_MAX_WORDS:
        return False
    if len(words) <= 3 or _LEANS_BACK.search(question):
        return True
    return bool(_POINTS.search(question)) and len(keyword_terms(question)) <= REWRITE_MAX_TERMS


def follow_up_query(question: str, history: Sequence[ChatMessage]) -> str:
    """What a follow-up's first wave searches: the follow-up, then the earlier question.

    The earlier question brings the subject ("it" is git-stash), the follow-up what is
    asked of it. In this order, the joined text found the follow-up's page for 18 of 32
    git dialogues against 12 the other way round (bench section 15).

    Example:
        >>> follow_up_query("How fast is it?", [ChatMessage(role="user", content="What is Redis?")])
        'How fast is it? What is Redis?'

    """
    return f"{question} {earlier_question(history)}".strip()


def joined_search(
    question: str, history: Sequence[ChatMessage], mode: str = "joined"
) -> str | None:
    """What ``question`` searches first in a ``RAG_FOLLOW_UP_SEARCH`` mode, if not itself.

    The joined text for a follow-up that leans back; None for the question as written.
    """
    if mode == "rewrite" or not needs_rewrite(question, history):
        return None
    return follow_up_query(question, history)


def _stem(word: str) -> str:
    """A word without a plural or verb ending, so "webhook" and "webhooks" are one."""
    for ending in ("ing", "ed", "es", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def foreign_words(rewrite: str, question: str, history: Sequence[ChatMessage]) -> list[str]:
    """The words of ``rewrite`` that neither the follow-up nor the conversation holds.

    A rewrite may only restate what was said: a subject it brings from elsewhere (the
    condense prompt's examples, or the model's own guess) would search for something
    nobody asked. Stop words and :data:`_GENERIC` question words (each its own stem) are
    allowed.

    Example:
        >>> foreign_words("How are webhooks secured?", "How are they secured?",
        ...               [ChatMessage(role="user", content="What are stashes?")])
        ['webhooks']

    """
    said = " ".join([question, *(message.content for message in history)])
    known = {_stem(word) for word in keyword_terms(said)} | _GENERIC
    return [word for word in dict.fromkeys(keyword_terms(rewrite)) if _stem(word) not in known]
