"""How a follow-up is searched: when it leans back, what it searches, which rewrites stand."""

import pytest

from chains.conversation import _CONDENSE_EXAMPLES, ChatMessage
from chains.follow_ups import follow_up_query, foreign_words, needs_rewrite

TURN = [
    ChatMessage(role="user", content="How can I temporarily shelve my uncommitted work?"),
    ChatMessage(role="assistant", content="Use git stash to save the changes for later."),
]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How does it scale?", True),
        ("And the other one?", True),
        ("Why?", True),
        ("What about Chroma?", True),
        ("How do I see the list of the ones I saved?", True),
        ("Can you do the same for a whole directory?", True),
        ("How do I remove one when I am done?", True),
        ("How do I get back to where I was?", True),
        ("What if that causes a conflict?", True),
        ("What does Chroma store in embedded mode?", False),
        ("How do I define my own exception type and raise it in a module?", False),
        ("How do I fetch changes from the server without merging them into my branch?", False),
        ("Explain " + "very " * 30 + "long questions about it", False),
    ],
)
def test_needs_rewrite_for_follow_ups_that_lean_back_not_for_questions_that_point_inward(
    question, expected
):
    assert needs_rewrite(question, TURN) is expected
    assert needs_rewrite(question, []) is False


def test_follow_up_query_is_the_follow_up_then_the_earlier_question():
    query = follow_up_query("And how do I bring it back later?", TURN)
    assert query == (
        "And how do I bring it back later? How can I temporarily shelve my uncommitted work?"
    )


def test_a_rewrite_that_restates_the_conversation_has_no_foreign_words():
    rewrite = "How do I bring back stashed changes later?"
    assert foreign_words(rewrite, "And how do I bring it back later?", TURN) == []


def test_a_rewrite_bringing_a_subject_nobody_named_is_caught():
    """Regression: SmolLM2 rewrote a git follow-up as a question about webhooks."""
    rewrite = "How do you apply a webhooks to another branch?"
    follow_up = "What do I do when it stops because of a conflict?"
    assert foreign_words(rewrite, follow_up, TURN) == ["apply", "webhooks", "branch"]


@pytest.mark.parametrize("example", _CONDENSE_EXAMPLES, ids=lambda e: e["earlier"])
def test_the_condense_examples_words_cannot_pass_the_check_in_another_conversation(example):
    """Copied into a rewrite, an example's subject is foreign to this conversation."""
    subject = example["earlier"].removeprefix("What is ").removeprefix("What are ").rstrip("?")
    assert subject.lower() in foreign_words(example["rewritten"], "How fast is it?", TURN)
