"""What a run leaves: the terminal table, ``report.json`` and ``junit.xml``.

With several configurations the table puts them side by side, each later one with its
difference from the first and that difference's paired 95% bootstrap interval (the same
questions resampled for both), so a change inside the noise reads as one.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.table import Table

from app.evaluation.gate import Check
from app.evaluation.judge import ADVISORY
from app.evaluation.metrics import Estimate, QuestionResult, bootstrap, per_question


def paired_difference(
    first: Sequence[QuestionResult], other: Sequence[QuestionResult], measure: str
) -> Estimate | None:
    """``measure`` of ``other`` minus that of ``first``, over the questions both scored."""
    before, after = per_question(first).get(measure), per_question(other).get(measure)
    if before is None or after is None:
        return None
    (a, statistic), (b, _) = before, after
    pairs = [(a[i], b[i]) for i in b if i in a]
    if not pairs:
        return None

    def difference(chosen: Sequence[float]) -> float:
        picked = [pairs[int(i)] for i in chosen]
        return statistic([b for _, b in picked]) - statistic([a for a, _ in picked])

    return bootstrap([float(i) for i in range(len(pairs))], difference)


def _cell(estimate: Estimate | None, *, signed: bool = False) -> str:
    if estimate is None:
        return "-"
    big = max(abs(estimate.value), abs(estimate.low), abs(estimate.high)) >= 100
    fmt = ("+" if signed else "") + (",.0f" if big else ".3f")
    return f"{estimate.value:{fmt}} [{estimate.low:{fmt}}, {estimate.high:{fmt}}]"


def table(
    totals: Mapping[str, Mapping[str, Estimate]], results: Mapping[str, Sequence[QuestionResult]]
) -> Table:
    """Each measure's total with its interval, per configuration; later ones with Δ."""
    labels = list(totals)
    grid = Table(title="streaming-rag eval (95% bootstrap intervals)")
    grid.add_column("measure")
    for n, label in enumerate(labels):
        grid.add_column(label or "value", justify="right")
        if n:
            grid.add_column(f"Δ {label}", justify="right")
    grid.add_column("n", justify="right")
    measures = list(dict.fromkeys(m for label in labels for m in totals[label]))
    first = labels[0]
    for measure in measures:
        row = []
        for n, label in enumerate(labels):
            row.append(_cell(totals[label].get(measure)))
            if n:
                diff = paired_difference(results[first], results[label], measure)
                row.append(_cell(diff, signed=True))
        count = max(totals[label][measure].n for label in labels if measure in totals[label])
        shown = f"{measure} (advisory)" if measure == ADVISORY else measure
        grid.add_row(shown, *row, str(count))
    return grid


def report(
    results: Mapping[str, Sequence[QuestionResult]],
    totals: Mapping[str, Mapping[str, Estimate]],
    checks: Sequence[Check],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """``report.json``: the run's settings, each configuration's totals and questions."""
    return {
        **meta,
        "configurations": {
            label: {
                "totals": {name: e.as_dict() for name, e in totals[label].items()},
                "questions": [asdict(r) for r in results[label]],
            }
            for label in results
        },
        "checks": [asdict(c) for c in checks],
    }


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """``data`` as indented JSON."""
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_junit(
    path: Path, results: Mapping[str, Sequence[QuestionResult]], checks: Sequence[Check]
) -> None:
    """One test case per gate, and one per question that must at least be answered."""
    suite = ET.Element("testsuite", name="streaming-rag eval")
    failures = 0
    for check in checks:
        case = ET.SubElement(suite, "testcase", classname="gate", name=check.name)
        if not check.passed:
            failures += 1
            ET.SubElement(case, "failure", message=check.detail)
        else:
            ET.SubElement(case, "system-out").text = check.detail
    for label, rows in results.items():
        for r in rows:
            case = ET.SubElement(
                suite, "testcase", classname=f"question{'.' + label if label else ''}", name=r.id
            )
            if r.error is not None:
                failures += 1
                ET.SubElement(case, "failure", message=r.error)
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


_COLOURS = ("#1f6feb", "#d2691e", "#2e8b57", "#8b3a9b")


def _latency_svg(results: Mapping[str, Sequence[QuestionResult]]) -> str:
    """Share of questions with a first token (solid) and a whole answer (dashed) by time."""
    width, height, pad = 640, 300, 40
    curves = {
        (label, time): sorted(
            v for r in rows if r.error is None and (v := r.times_ms.get(time)) is not None
        )
        for label, rows in results.items()
        for time in ("ttft", "total")
    }
    longest = max((max(v) for v in curves.values() if v), default=1.0)
    lines = []
    for n, ((label, time), values) in enumerate(curves.items()):
        if not values:
            continue
        points = " ".join(
            f"{pad + (width - 2 * pad) * v / longest:.1f},"
            f"{height - pad - (height - 2 * pad) * (i + 1) / len(values):.1f}"
            for i, v in enumerate(values)
        )
        dash = ' stroke-dasharray="6 4"' if time == "total" else ""
        colour = _COLOURS[(n // 2) % len(_COLOURS)]
        name = html.escape(f"{label or 'run'}: {time}")
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{points}">'
            f"<title>{name}</title></polyline>"
        )
    axes = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#555"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#555"/>'
        f'<text x="{width - pad}" y="{height - 10}" text-anchor="end">{longest:,.0f} ms</text>'
        f'<text x="{pad}" y="{pad - 10}">all questions</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="latency by question">{axes}{"".join(lines)}</svg>'
    )


def html_report(
    results: Mapping[str, Sequence[QuestionResult]],
    totals: Mapping[str, Mapping[str, Estimate]],
    checks: Sequence[Check],
) -> str:
    """``report.html``: the measures, the gates and the latency plot; no script, no fetch."""
    labels = list(totals)
    measures = list(dict.fromkeys(m for label in labels for m in totals[label]))
    head = "".join(f"<th>{html.escape(label or 'value')}</th>" for label in labels)
    rows = "".join(
        f"<tr><td>{html.escape(m + (' (advisory)' if m == ADVISORY else ''))}</td>"
        + "".join(f"<td>{html.escape(_cell(totals[label].get(m)))}</td>" for label in labels)
        + "</tr>"
        for m in measures
    )
    gates = "".join(
        f"<li>{'pass' if c.passed else 'FAIL'} {html.escape(c.name)}: {html.escape(c.detail)}</li>"
        for c in checks
    )
    legend = ", ".join(
        f'<span style="color:{_COLOURS[n % len(_COLOURS)]}">{html.escape(label or "run")}</span>'
        for n, label in enumerate(labels)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>streaming-rag eval</title>
<style>body{{font-family:sans-serif;margin:2rem}}td,th{{padding:.2rem .6rem;text-align:right}}
td:first-child{{text-align:left}}</style></head><body>
<h1>streaming-rag eval</h1>
<table><thead><tr><th>measure (95% interval)</th>{head}</tr></thead><tbody>{rows}</tbody></table>
<h2>Gates</h2><ul>{gates or "<li>none</li>"}</ul>
<h2>Latency</h2><p>Share of questions with a first token (solid) and a whole answer (dashed)
by time; {legend}.</p>
{_latency_svg(results)}
</body></html>
"""
