"""``streaming-rag eval --url`` against a running server on the sample knowledge base.

The shipped question file end to end (real engine, real Chroma, real HTTP), then the
gate's exit codes: 1 for a missed threshold, 2 for a usage error, 3 when nothing can be
evaluated. No figure is asserted beyond what the sample set must reach by retrieval.
"""

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from sse_helpers import CLI

import app

QUESTIONS = Path(app.__file__).parent / "sample_docs" / "questions.jsonl"


def run_eval(*args, timeout=600):
    return subprocess.run(
        [str(CLI), "eval", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def test_the_sample_question_set_runs_end_to_end_and_writes_its_reports(live_server, tmp_path):
    out = tmp_path / "out"
    done = run_eval(QUESTIONS, "--url", live_server, "--out", out, "--min", "hit@4=0.8")
    assert done.returncode == 0, done.stderr
    assert "1 passed, 0 failed" in done.stderr
    report = json.loads((out / "report.json").read_text())
    run = report["configurations"][""]
    questions = run["questions"]
    assert len(questions) == 28 and all(q["error"] is None for q in questions)
    assert report["fingerprint"]["documents"] >= 24  # the session's sample knowledge base
    assert run["totals"]["decline_correct"]["n"] == 28
    declines = [q for q in questions if q["must_decline"]]
    assert [q["scores"]["decline_correct"] for q in declines] == [1.0, 1.0, 1.0]
    # The engine's own usage: the RAG prompt (instructions and four sources) is hundreds
    # of tokens, and every answered question wrote some.
    assert run["totals"]["prompt_tokens_mean"]["value"] > 100
    assert run["totals"]["completion_tokens_mean"]["n"] == 25
    low, high = run["totals"]["mrr"]["low"], run["totals"]["mrr"]["high"]
    assert low <= run["totals"]["mrr"]["value"] <= high
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.get("tests") == "29" and suite.get("failures") == "0"


def test_the_gate_exits_1_on_a_miss_2_on_a_usage_error_3_when_nothing_answers(
    live_server, tmp_path
):
    one = tmp_path / "one.jsonl"
    one.write_text(
        '{"id": "sse", "question": "What are server-sent events?", "gold": [{"doc_id": "sse"}]}\n'
    )
    missed = run_eval(one, "--url", live_server, "--out", tmp_path, "--min", "mrr=1.01")
    assert missed.returncode == 1, missed.stderr
    assert "0 passed, 1 failed" in missed.stderr
    unknown = run_eval(one, "--url", live_server, "--out", tmp_path, "--min", "recall@9=1")
    assert unknown.returncode == 2 and "no measure named recall@9" in unknown.stderr
    assert run_eval(one, "--min", "recall", "--url", live_server).returncode == 2
    down = run_eval(one, "--url", "http://127.0.0.1:9", "--out", tmp_path)
    assert down.returncode == 3 and "does not answer" in down.stderr
    baseline = tmp_path / "report.json"
    other = json.loads(baseline.read_text())
    other["fingerprint"]["sha256"] = "0" * 16
    baseline.write_text(json.dumps(other))
    moved = run_eval(one, "--url", live_server, "--baseline", baseline, "--out", tmp_path)
    assert moved.returncode == 3 and "other documents" in moved.stderr


def test_a_generated_question_set_is_a_question_file_eval_reads(live_server, tmp_path):
    made = tmp_path / "generated.jsonl"
    generated = run_eval(
        "--generate", "sentences", "--url", live_server, "-o", made, "--limit", "3"
    )
    assert generated.returncode == 0, generated.stderr
    assert "do not quote their scores" in " ".join(generated.stderr.split())
    lines = [json.loads(line) for line in made.read_text().splitlines()]
    assert len(lines) == 3 and all(q["gold"][0]["span"] for q in lines)
    scored = run_eval(made, "--url", live_server, "--out", tmp_path / "out")
    assert scored.returncode == 0, scored.stderr
    totals = json.loads((tmp_path / "out" / "report.json").read_text())["configurations"][""]
    assert totals["totals"]["recall@4"]["n"] == 3


def test_the_judge_adds_an_advisory_measure_and_the_html_report_its_plot(
    live_server, local_llm, tmp_path
):
    one = tmp_path / "one.jsonl"
    one.write_text(
        '{"id": "sse", "question": "What are server-sent events?", "gold": [{"doc_id": "sse"}]}\n'
    )
    judge = ["--judge", f"http://127.0.0.1:{local_llm.port}/v1", "--judge-model", "smollm2"]
    out = tmp_path / "out"
    judged = run_eval(one, "--url", live_server, *judge, "--html", "--out", out)
    assert judged.returncode == 0, judged.stderr
    totals = json.loads((out / "report.json").read_text())["configurations"][""]["totals"]
    said = " ".join(judged.stderr.split())
    assert "judge_supported (advisory)" in said or "neither yes nor no" in said
    if "judge_supported" in totals:
        assert 0 <= totals["judge_supported"]["value"] <= 1
    assert "<svg" in (out / "report.html").read_text()
    gated = run_eval(one, "--url", live_server, *judge, "--min", "judge_supported=0")
    assert gated.returncode == 2 and "advisory" in gated.stderr
