"""The gate: thresholds a run must hold, and drops against an earlier run.

Thresholds are ``--min recall@4=0.8 --max ttft_p95_ms=1500``; a drop against
``--baseline report.json`` counts only beyond that run's interval.

Exit codes: 0 every gate holds, 1 one is missed, 2 a usage or configuration error,
3 nothing could be evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.evaluation.judge import ADVISORY
from app.evaluation.metrics import Estimate

PASSED, MISSED, USAGE, NOTHING = 0, 1, 2, 3

LOWER_IS_BETTER = ("_ms", "not_retrieved", "_tokens_mean")
"""Measures that are better when smaller: times, citations of nothing retrieved, tokens."""


@dataclass(frozen=True)
class Threshold:
    """One ``--min NAME=VALUE`` or ``--max NAME=VALUE``."""

    name: str
    bound: float
    kind: str  # "min" or "max"

    @classmethod
    def parse(cls, text: str, kind: str) -> Threshold:
        """``NAME=NUMBER``; a ``ValueError`` shows the form."""
        name, sep, raw = text.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            return cls(name.strip(), float(raw), kind)
        except ValueError:
            raise ValueError(f"--{kind} {text!r}: write NAME=NUMBER, e.g. recall@4=0.8") from None


@dataclass(frozen=True)
class Check:
    """One gate's outcome, as a line of the report and a JUnit test case."""

    name: str
    passed: bool
    detail: str


def check_thresholds(
    totals: Mapping[str, Estimate], thresholds: Sequence[Threshold]
) -> list[Check]:
    """Each threshold against its total.

    Raises:
        ValueError: a threshold names a measure this run does not have (the names are
            listed), a usage error rather than a miss.

    """
    if advisory := [t.name for t in thresholds if t.name == ADVISORY]:
        raise ValueError(f"{advisory[0]} is the judge's advisory verdict: it cannot be a gate")
    unknown = [t.name for t in thresholds if t.name not in totals]
    if unknown:
        raise ValueError(
            f"no measure named {', '.join(unknown)} in this run; measures: {', '.join(totals)}"
        )
    checks = []
    for t in thresholds:
        value = totals[t.name].value
        ok = value >= t.bound if t.kind == "min" else value <= t.bound
        sign = ">=" if t.kind == "min" else "<="
        checks.append(Check(f"{t.kind} {t.name}", ok, f"{value:.4g} (needs {sign} {t.bound:g})"))
    return checks


def check_baseline(totals: Mapping[str, Estimate], baseline: Mapping[str, Any]) -> list[Check]:
    """Each measure both runs have: missed when it moved the wrong way past its interval.

    A change within the baseline's interval is noise, not a drop.
    """
    checks = []
    for name, estimate in totals.items():
        before = baseline.get(name)
        if before is None or name == ADVISORY:
            continue
        if name.endswith(LOWER_IS_BETTER):
            dropped = estimate.value > before["high"]
        else:
            dropped = estimate.value < before["low"]
        detail = (
            f"{estimate.value:.4g} against {before['value']:.4g} "
            f"[{before['low']:.4g}, {before['high']:.4g}]"
        )
        checks.append(Check(f"baseline {name}", not dropped, detail))
    return checks
