"""Ask every question through the event stream, in process or against a running server.

With several configurations (``--compare k=4,k=8``) each question is asked under each
of them in turn before the next question, rotating which goes first, so a drift of
the host (another process, a warming cache) lands on every configuration alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import httpx

from app.evaluation.judge import ADVISORY, Judge
from app.evaluation.metrics import QuestionResult, TimedEvent, retrieved, score
from app.evaluation.questions import EvalQuestion
from chains.events import Ask, Source


class Configuration:
    """Request fields one configuration sets (``k=8``, ``progressive=true``), and its label."""

    FIELDS: ClassVar[dict[str, type]] = {"k": int, "progressive": bool}
    ALIASES: ClassVar[dict[str, str]] = {
        "rag_progressive": "progressive",
        "rag_top_k": "k",
        "top_k": "k",
    }

    def __init__(self, label: str, fields: dict[str, Any]) -> None:
        self.label, self.fields = label, fields

    @classmethod
    def parse(cls, text: str) -> Configuration:
        """``k=8`` or ``RAG_PROGRESSIVE=true``; a ``ValueError`` says what is accepted."""
        name, sep, raw = text.partition("=")
        key = cls.ALIASES.get(name.strip().lower(), name.strip().lower())
        if not sep or key not in cls.FIELDS:
            raise ValueError(
                f"cannot compare {text!r}: use k=N or progressive=true|false "
                "(RAG_TOP_K and RAG_PROGRESSIVE are accepted too)"
            )
        value: Any
        if cls.FIELDS[key] is bool:
            if raw.strip().lower() not in ("true", "false"):
                raise ValueError(f"{text!r}: {key} is true or false")
            value = raw.strip().lower() == "true"
        else:
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{text!r}: {key} is a whole number") from None
        return cls(f"{key}={raw.strip().lower()}", {key: value})


async def ask_timed(ask: Ask, body: dict[str, Any]) -> list[TimedEvent]:
    """Every event of one answer, with the milliseconds from the request to its arrival."""
    started = time.perf_counter()
    return [((time.perf_counter() - started) * 1000, event) async for event in ask(body)]


async def evaluate(
    questions: Sequence[EvalQuestion],
    ask: Ask,
    *,
    default_k: int,
    configurations: Sequence[Configuration] = (),
    kb: str = "",
    on_result: Callable[[QuestionResult], None] = lambda _: None,
    judge: Judge | None = None,
) -> dict[str, list[QuestionResult]]:
    """Each configuration's results (one, labelled ``""``, when none is given).

    With a ``judge``, each answer also gets its advisory ``judge_supported`` share.
    """
    configs = list(configurations) or [Configuration("", {})]
    results: dict[str, list[QuestionResult]] = {c.label: [] for c in configs}
    for n, question in enumerate(questions):
        for config in configs[n % len(configs) :] + configs[: n % len(configs)]:
            body = {**question.request(), **config.fields}
            if kb:
                body["kb"] = kb
            k = int(body.get("k", default_k))
            try:
                events = await ask_timed(ask, body)
            except Exception as exc:  # the server went away mid-run: this question's error
                result = QuestionResult(question.id, question.question, question.must_decline, k)
                result.error = f"request failed: {exc}"
            else:
                result = score(question, events, k)
                if judge is not None and result.error is None:
                    result.scores[ADVISORY] = await _judged(judge, result.answer, retrieved(events))
            results[config.label].append(result)
            on_result(result)
    return results


async def _judged(judge: Judge, answer: str, sources: list[Source]) -> float | None:
    """The judge's share, or None when it could not be asked (it never fails a question)."""
    try:
        return await judge.supported_share(answer, sources)
    except httpx.HTTPError:
        judge.failed += 1
        return None
