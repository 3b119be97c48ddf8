import pytest

from chains.citations import CitationTracker

SOURCES = {"doc-001": "a:0", "doc-002": "b:0", "doc-003": "c:0"}


def feed_all(tracker, tokens):
    return [c for token in tokens for c in tracker.feed(token)]


def test_tracker_finds_key_split_across_adversarial_tokens():
    tracker = CitationTracker(SOURCES)
    found = feed_all(tracker, ["TTFT is latency ", "[", "doc", "-00", "1]", "."])
    assert [(c.cite, c.source_id, c.valid, c.token_index) for c in found] == [
        ("doc-001", "a:0", True, 4)
    ]


@pytest.mark.parametrize("split", range(1, len("See [doc-002] and [doc-003].")))
def test_tracker_finds_the_same_keys_wherever_the_text_is_split(split):
    text = "See [doc-002] and [doc-003]."
    found = feed_all(CitationTracker(SOURCES), [text[:split], text[split:]])
    assert [c.cite for c in found] == ["doc-002", "doc-003"]


def test_tracker_finds_keys_fed_one_character_at_a_time():
    found = feed_all(CitationTracker(SOURCES), list("x [doc-001, doc-002] y [doc-3]"))
    assert [c.cite for c in found] == ["doc-001", "doc-002", "doc-003"]


@pytest.mark.parametrize(
    "written",
    [
        "[doc-001]",
        "[Doc-1]",
        "[DOC 001]",
        "[doc_001]",
        "[doc001]",
        "【doc-001】",
        "[doc-001; doc-001]",
        "[see doc-01]",
    ],
)
def test_tracker_normalises_the_models_likely_variants(written):
    assert [c.cite for c in CitationTracker(SOURCES).feed(written)] == ["doc-001"]


def test_tracker_reports_each_key_once_and_lists_cited_and_uncited():
    tracker = CitationTracker(SOURCES)
    found = feed_all(tracker, ["A [doc-002].", " B [doc-002][doc-001].", " C [doc-002]"])
    assert [c.cite for c in found] == ["doc-002", "doc-001"]
    assert tracker.cited == ["doc-002", "doc-001"]
    assert tracker.uncited == ["doc-003"]
    assert tracker.invalid == []


def test_tracker_marks_keys_that_were_not_retrieved_invalid():
    tracker = CitationTracker(SOURCES)
    found = feed_all(tracker, ["Made up [doc-", "009] and real [doc-001]"])
    assert [(c.cite, c.valid, c.source_id) for c in found] == [
        ("doc-009", False, None),
        ("doc-001", True, "a:0"),
    ]
    assert tracker.invalid == ["doc-009"] and tracker.cited == ["doc-001"]


def test_tracker_ignores_prose_in_brackets_and_recovers_after_it():
    tracker = CitationTracker(SOURCES, max_bracket_chars=20)
    found = feed_all(
        tracker, ["[this aside is long prose, not a citation doc-002 ", "] ok [doc-003]"]
    )
    assert [c.cite for c in found] == ["doc-003"]
    assert feed_all(CitationTracker(SOURCES), ["[1] and [see above]"]) == []


def test_tracker_with_custom_pattern_reads_numeric_citations():
    tracker = CitationTracker({"doc-001": "a:0"}, key_pattern=r"^(\d+)$")
    assert [c.cite for c in feed_all(tracker, ["Fact [", "1", "]"])] == ["doc-001"]


def test_tracker_rejects_a_pattern_without_a_number_group():
    with pytest.raises(ValueError, match="group"):
        CitationTracker(SOURCES, key_pattern=r"doc-\d+")


def test_tracker_on_a_10k_token_answer_keeps_a_bounded_buffer():
    """O(1) amortised: the tracker never holds more than one open bracket of text."""
    tracker = CitationTracker(SOURCES, max_bracket_chars=40)
    tokens = []
    for i in range(10_000):
        tokens.append(" word")
        if i % 500 == 0:
            tokens += ["[", "doc", f"-00{1 + (i // 500) % 3}", "]"]
        if i == 7_000:
            tokens += ["[", "an unterminated bracket " * 10]
    peak = 0
    for token in tokens:
        tracker.feed(token)
        peak = max(peak, len(tracker._open or ()))
    assert peak <= 40
    assert tracker.cited == ["doc-001", "doc-002", "doc-003"]
    assert tracker._tokens == len(tokens)
