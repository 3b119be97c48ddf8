"""The streaming sentence splitter: the same sentences however the tokens fall."""

import random

import pytest

from chains.sentences import SentenceSplitter, cited_keys, claim

ANSWER = (
    "RAG retrieves first, e.g. from Chroma [doc-001]. Scores run from 0.0 to 1.0! "
    "J. Smith asked: does `os.path.join(a. B)` split? It does not. [doc-002] "
    "Next line without a stop\n"
    "1. A numbered item here.\n"
    "```python\nx = 1. Y = 2.\n```\n"
    "After the code comes approx. ten more words [Doc-3, doc 4]."
)
SENTENCES = [
    "RAG retrieves first, e.g. from Chroma [doc-001].",
    "Scores run from 0.0 to 1.0!",
    "J. Smith asked: does `os.path.join(a. B)` split?",
    "It does not. [doc-002]",
    "Next line without a stop",
    "1. A numbered item here.",
    "```python\nx = 1. Y = 2.\n```",
    "After the code comes approx. ten more words [Doc-3, doc 4].",
]


def split(tokens):
    splitter = SentenceSplitter()
    found = [s for token in tokens for s in splitter.feed(token)]
    return found + splitter.flush()


def test_whole_answer_splits_into_its_sentences_with_their_spans():
    found = split([ANSWER])
    assert [s.text for s in found] == SENTENCES
    assert [ANSWER[s.start : s.end] for s in found] == SENTENCES
    assert [s.code for s in found] == [False] * 6 + [True, False]


@pytest.mark.parametrize("seed", range(20))
def test_any_token_split_gives_the_same_sentences(seed):
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(ANSWER)), rng.randint(1, len(ANSWER) // 2)))
    tokens = [ANSWER[a:b] for a, b in zip([0, *cuts], [*cuts, len(ANSWER)], strict=True)]
    assert [s.text for s in split(tokens)] == SENTENCES


def test_one_character_at_a_time_gives_the_same_sentences():
    assert [s.text for s in split(list(ANSWER))] == SENTENCES


def test_a_sentence_is_given_only_once_the_next_one_has_started():
    splitter = SentenceSplitter()
    assert splitter.feed("It is fast.") == []
    assert splitter.feed(" [doc-001]") == [], "a citation after the stop may still come"
    assert [s.text for s in splitter.feed(" Then")] == ["It is fast. [doc-001]"]
    assert [s.text for s in splitter.flush()] == ["Then"]


def test_a_code_block_never_closed_is_one_code_sentence():
    found = split(["Run this:\n```sh\nmake test. Then", " go.\n"])
    assert [(s.text, s.code) for s in found] == [
        ("Run this:", False),
        ("```sh\nmake test. Then go.", True),
    ]


def test_keys_are_normalised_and_claims_lose_their_brackets():
    sentence = "Chroma stores vectors [Doc-1, doc 02] on disk【doc_3】."
    assert cited_keys(sentence) == ["doc-001", "doc-002", "doc-003"]
    assert claim(sentence) == "Chroma stores vectors on disk ."
