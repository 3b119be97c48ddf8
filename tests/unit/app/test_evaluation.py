"""``streaming-rag eval``'s measures against values computed by hand, its gate and files."""

import json
import math
import xml.etree.ElementTree as ET

import pytest

from app.evaluation.gate import Threshold, check_baseline, check_thresholds
from app.evaluation.metrics import Estimate, bootstrap, percentile, score, totals
from app.evaluation.outputs import paired_difference, report, write_json, write_junit
from app.evaluation.questions import EvalQuestion, QuestionFileError, load_questions
from app.evaluation.runner import Configuration, evaluate
from chains.events import DoneEvent, ErrorEvent, GroundingSummary, Metrics, Source, TokenEvent
from chains.rag import NOT_IN_KNOWLEDGE_BASE

pytestmark = pytest.mark.anyio


def source(rank, doc_id, content="text", **metadata):
    return Source(
        index=rank - 1,
        id=f"{doc_id}:0",
        doc_id=doc_id,
        cite=f"doc-{rank:03d}",
        content=content,
        score=0.5,
        metadata=metadata,
    )


def done(answer="An answer.", cited=(), invalid=(), supported_share=None):
    grounding = None
    if supported_share is not None:
        grounding = GroundingSummary(
            sentences=4,
            supported=round(4 * supported_share),
            supported_share=supported_share,
            unsupported=[],
            wrong_citations=0,
            complete=True,
        )
    metrics = Metrics(
        retrieval_ms=1, ttfs_ms=1, ttft_ms=2, total_ms=3, token_count=3, tokens_per_sec=1
    )
    return DoneEvent(
        answer=answer,
        cited=list(cited),
        uncited=[],
        invalid_citations=list(invalid),
        metrics=metrics,
        grounding=grounding,
        request_id=None,
    )


def timed(*events):
    return [(10.0 * n, event) for n, event in enumerate(events, start=1)]


def question(**fields):
    return EvalQuestion.model_validate({"id": "q", "question": "What?", **fields})


def test_gold_at_document_rank_2_gives_mrr_one_half_and_misses_hit_at_1():
    q = question(gold=[{"doc_id": "b"}])
    events = timed(source(1, "a"), source(2, "b"), TokenEvent(content="x"), done())
    at_1, at_4 = score(q, events, k=1), score(q, events, k=4)
    assert at_4.ranks == [2]
    assert at_4.scores["mrr"] == 0.5
    assert at_1.scores["hit@1"] == 0.0 and at_4.scores["hit@4"] == 1.0
    assert at_4.scores["ndcg@10"] == pytest.approx(1 / math.log2(3))


def test_two_chunks_of_one_document_rank_as_one_document():
    q = question(gold=[{"doc_id": "c"}])
    chunks = [source(1, "a"), source(2, "a"), source(3, "c")]
    result = score(q, timed(*chunks, done()), k=4)
    assert result.documents == ["a", "c"] and result.ranks == [2]


def test_recall_counts_each_gold_item_and_a_span_names_the_chunk_that_holds_it():
    q = question(gold=[{"doc_id": "a", "span": "nine   metres"}, {"source": "b.md"}])
    chunks = [source(1, "a", "Tides rise."), source(2, "x", "Nine metres.", source="b.md")]
    result = score(q, timed(*chunks, done()), k=4)
    assert result.ranks == [None, 2]  # a's chunk lacks the span; b.md is found by source
    assert result.scores["recall@4"] == 0.5
    assert result.scores["ndcg@10"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_a_citation_of_a_document_outside_the_gold_lowers_precision_not_recall():
    q = question(gold=[{"doc_id": "a"}])
    events = timed(source(1, "a"), source(2, "b"), done(cited=["doc-001", "doc-002"]))
    result = score(q, events, k=4)
    assert result.scores["citation_precision"] == 0.5
    assert result.scores["citation_recall"] == 1.0
    assert result.scores["not_retrieved"] == 0.0


def test_a_citation_of_nothing_retrieved_counts_against_precision_and_is_reported():
    q = question(gold=[{"doc_id": "a"}])
    events = timed(source(1, "a"), done(cited=["doc-001"], invalid=["doc-009"]))
    result = score(q, events, k=4)
    assert result.scores["citation_precision"] == 0.5
    assert result.scores["not_retrieved"] == 0.5


def test_no_citation_leaves_precision_undefined_and_recall_zero():
    result = score(question(gold=[{"doc_id": "a"}]), timed(source(1, "a"), done()), k=4)
    assert result.scores["citation_precision"] is None
    assert result.scores["citation_recall"] == 0.0


def test_a_must_decline_question_that_is_answered_counts_as_wrong():
    q = question(must_decline=True)
    answered = score(q, timed(source(1, "a"), done(answer="Paris, surely.")), k=4)
    declined = score(q, timed(done(answer=NOT_IN_KNOWLEDGE_BASE)), k=4)
    assert answered.scores["decline_correct"] == 0.0
    assert declined.scores["decline_correct"] == 1.0
    assert "mrr" not in answered.scores  # no gold: retrieval is not scored


@pytest.mark.parametrize(
    ("answer", "declines"),
    [
        (NOT_IN_KNOWLEDGE_BASE, True),
        ("The sources do not say.", True),
        ("The sources do not mention reranking.", True),
        ("There is no information about that here.", True),
        ("SSE keeps the response open [doc-001].", False),
    ],
)
def test_a_decline_is_recognized_however_the_model_words_it(answer, declines):
    from app.evaluation.metrics import is_decline

    assert is_decline(answer) is declines


def test_declining_an_answerable_question_counts_as_wrong():
    q = question(gold=[{"doc_id": "a"}])
    result = score(q, timed(source(1, "a"), done(answer="The sources do not say.")), k=4)
    assert result.scores["declined"] == 1.0 and result.scores["decline_correct"] == 0.0


def test_times_are_the_client_side_arrival_of_each_first_event():
    q = question(gold=[{"doc_id": "a"}])
    events = [
        (5.0, source(1, "a")),
        (40.0, TokenEvent(content="A")),
        (90.0, done(supported_share=0.75)),
    ]
    result = score(q, events, k=4)
    assert result.times_ms == {"ttfs": 5.0, "ttft": 40.0, "first_grounded": None, "total": 90.0}
    assert result.scores["grounded"] == 0.75


def test_the_engines_token_counts_are_kept_and_averaged():
    q = question(gold=[{"doc_id": "a"}])
    answer = done()
    answer.metrics.prompt_tokens, answer.metrics.completion_tokens = 412, 30
    result = score(q, timed(source(1, "a"), TokenEvent(content="A"), answer), k=4)
    assert (result.prompt_tokens, result.completion_tokens) == (412, 30)
    assert totals([result])["prompt_tokens_mean"].value == 412
    shorter = score(q, timed(source(1, "a"), TokenEvent(content="A"), done()), k=4)
    shorter.prompt_tokens = 212
    difference = paired_difference([result], [shorter], "prompt_tokens_mean")
    assert difference is not None and difference.value == -200


def test_an_error_event_marks_the_question_unanswered_and_keeps_it_out_of_the_totals():
    q = question(gold=[{"doc_id": "a"}])
    failed = score(q, timed(ErrorEvent(code="llm_timeout", message="slow", retryable=True)), k=4)
    good = score(q, timed(source(1, "a"), done()), k=4)
    assert failed.error == "llm_timeout: slow"
    assert totals([failed, good])["mrr"].n == 1


def test_bootstrap_interval_holds_the_value_and_is_the_same_on_every_run():
    values = [0.0, 1.0] * 10
    first, again = (
        bootstrap(values, lambda v: sum(v) / len(v)),
        bootstrap(values, lambda v: sum(v) / len(v)),
    )
    assert first == again
    assert first.low < first.value == 0.5 < first.high
    assert percentile([1, 2, 3, 4], 0.5) == 2.5


def test_thresholds_pass_miss_and_refuse_an_unknown_measure():
    measured = {
        "recall@4": Estimate(0.7, 0.6, 0.8, 20),
        "ttft_p95_ms": Estimate(900, 800, 1000, 20),
    }
    checks = check_thresholds(
        measured,
        [Threshold.parse("recall@4=0.8", "min"), Threshold.parse("ttft_p95_ms=1500", "max")],
    )
    assert [c.passed for c in checks] == [False, True]
    with pytest.raises(ValueError, match="no measure named recall@5"):
        check_thresholds(measured, [Threshold.parse("recall@5=0.8", "min")])
    with pytest.raises(ValueError, match="NAME=NUMBER"):
        Threshold.parse("recall@4", "min")


def test_a_drop_inside_the_baseline_interval_is_noise_and_beyond_it_a_miss():
    before = {
        "mrr": {"value": 0.8, "low": 0.7, "high": 0.9},
        "ttft_p50_ms": {"value": 500, "low": 450, "high": 550},
    }
    inside = check_baseline(
        {"mrr": Estimate(0.72, 0.6, 0.8, 9), "ttft_p50_ms": Estimate(540, 0, 0, 9)}, before
    )
    beyond = check_baseline(
        {"mrr": Estimate(0.65, 0.5, 0.7, 9), "ttft_p50_ms": Estimate(600, 0, 0, 9)}, before
    )
    assert [c.passed for c in inside] == [True, True]
    assert [c.passed for c in beyond] == [False, False]


async def test_compare_asks_each_question_under_every_configuration_in_turn():
    asked = []

    async def ask(body):
        asked.append((body["question"], body.get("k")))
        yield done(answer=NOT_IN_KNOWLEDGE_BASE)

    questions = [
        question(must_decline=True).model_copy(update={"id": i, "question": i}) for i in "abc"
    ]
    configs = [Configuration.parse("k=4"), Configuration.parse("RAG_TOP_K=8")]
    results = await evaluate(questions, ask, default_k=4, configurations=configs)
    assert asked == [("a", 4), ("a", 8), ("b", 8), ("b", 4), ("c", 4), ("c", 8)]
    assert list(results) == ["k=4", "k=8"] and [r.k for r in results["k=8"]] == [8, 8, 8]
    with pytest.raises(ValueError, match="k=N or progressive"):
        Configuration.parse("temperature=0")


def test_report_json_and_junit_xml_parse_and_hold_every_question_and_gate(tmp_path):
    q = question(gold=[{"doc_id": "a"}])
    results = {"": [score(q, timed(source(1, "a"), done(cited=["doc-001"])), k=4)]}
    sums = {"": totals(results[""])}
    checks = check_thresholds(sums[""], [Threshold.parse("mrr=0.9", "min")])
    write_json(tmp_path / "report.json", report(results, sums, checks, {"k": 4}))
    write_junit(tmp_path / "junit.xml", results, checks)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["configurations"][""]["totals"]["mrr"]["value"] == 1.0
    assert data["configurations"][""]["questions"][0]["ranks"] == [1]
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "0"


def test_a_question_file_error_names_the_line_and_the_field(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text(
        '{"id": "a", "question": "Q?", "gold": [{"doc_id": "x"}]}\n{"id": "b", "question": "Q?"}\n'
    )
    with pytest.raises(QuestionFileError, match=r"questions\.jsonl:2: .*must_decline"):
        load_questions(path)
    path.write_text("# only a comment\n")
    with pytest.raises(QuestionFileError, match="no question"):
        load_questions(path)


def test_generated_questions_come_from_headings_and_sentences_with_their_gold_spans():
    from app.evaluation.generate import generate

    docs = [
        {
            "id": "a",
            "title": "Tides",
            "text": "# Tides\n\n## Spring tides\n\nThey reach nine metres at Quillon Bay. "
            "Neap tides stay under three metres there.",
        },
        {
            "id": "b",
            "title": None,
            "text": "Herons nest beside the old index building. "
            "They fish at dawn in the shallow bay.",
        },
    ]
    headings = generate(docs, "headings", limit=10)
    assert [q["question"] for q in headings] == ["Tides", "Spring tides"]
    assert headings[1]["gold"] == [{"doc_id": "a", "span": "Spring tides"}]
    sentences = generate(docs, "sentences", limit=10)
    assert sentences[0] == {
        "id": "a-sentences-1",
        "question": "They reach nine metres at Quillon Bay.",
        "gold": [{"doc_id": "a", "span": "Neap tides stay under three metres there."}],
    }
    assert [q["gold"][0]["doc_id"] for q in sentences] == ["a", "b"]
    assert len(generate(docs, "sentences", limit=1)) == 1
    for q in headings + sentences:
        EvalQuestion.model_validate(q)


def test_the_html_report_has_every_measure_a_latency_curve_per_run_and_no_script():
    from html.parser import HTMLParser

    from app.evaluation.outputs import html_report

    q = question(gold=[{"doc_id": "a"}])
    events = [(5.0, source(1, "a")), (40.0, TokenEvent(content="A")), (90.0, done())]
    results = {"k=4": [score(q, events, k=4)], "k=8": [score(q, events, k=8)]}
    sums = {label: totals(rows) for label, rows in results.items()}
    page = html_report(results, sums, [])
    tags = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append(tag)

    Tags().feed(page)
    assert "script" not in tags and "img" not in tags
    assert tags.count("polyline") == 4  # first token and whole answer, for each run
    for measure in sums["k=4"]:
        assert f"<td>{measure}</td>" in page


def test_the_judge_is_advisory_and_never_a_gate():
    measured = {"judge_supported": Estimate(0.5, 0.4, 0.6, 10)}
    with pytest.raises(ValueError, match="advisory"):
        check_thresholds(measured, [Threshold.parse("judge_supported=0.4", "min")])
    assert check_baseline(measured, {"judge_supported": {"value": 1, "low": 1, "high": 1}}) == []
