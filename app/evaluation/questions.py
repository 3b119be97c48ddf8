"""The question file: one JSON object per line, each with its gold documents.

.. code-block:: json

    {"id": "ttft", "question": "What is time to first token?",
     "gold": [{"doc_id": "ttft"}, {"source": "metrics.md", "span": "first token"}]}
    {"id": "mona", "question": "Who painted the Mona Lisa?", "must_decline": true}

Gold is by document (``doc_id`` or ``source`` metadata), optionally narrowed to the
chunk holding ``span``: chunk ids change when documents are re-chunked, these do not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chains.conversation import ChatMessage
from chains.errors import describe_validation_error


class QuestionFileError(ValueError):
    """A question file that cannot be read; the message names the line and the field."""


class Gold(BaseModel):
    """Where an answer must come from: a document, optionally the chunk holding ``span``."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str | None = None
    source: str | None = None
    span: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _names_a_document(self) -> Gold:
        if (self.doc_id is None) == (self.source is None):
            raise ValueError("a gold item names its document by doc_id or by source, one of them")
        return self

    def matches(self, doc_id: str | None, metadata: dict[str, Any], content: str) -> bool:
        """Whether a retrieved chunk is this gold item."""
        same = doc_id == self.doc_id if self.doc_id else metadata.get("source") == self.source
        return same and (self.span is None or _squeezed(self.span) in _squeezed(content))


class EvalQuestion(BaseModel):
    """One line of the question file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    gold: list[Gold] = Field(default_factory=list)
    must_decline: bool = False
    chat_history: list[ChatMessage] = Field(default_factory=list)

    @model_validator(mode="after")
    def _gold_or_decline(self) -> EvalQuestion:
        if self.must_decline and self.gold:
            raise ValueError("a must_decline question has no gold documents")
        if not self.must_decline and not self.gold:
            raise ValueError("a question needs gold documents, or must_decline: true")
        return self

    def request(self) -> dict[str, Any]:
        """The ``/rag/sse`` body that asks it."""
        body: dict[str, Any] = {"question": self.question}
        if self.chat_history:
            body["chat_history"] = [m.model_dump() for m in self.chat_history]
        return body


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read ``path``; blank lines and ``#`` comments are skipped.

    Raises:
        QuestionFileError: the file is missing, a line is not JSON or not a question,
            two questions share an id, or there is no question at all.

    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QuestionFileError(f"cannot read {path}: {exc.strerror}") from exc
    questions: list[EvalQuestion] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            questions.append(EvalQuestion.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        except ValidationError as exc:
            raise QuestionFileError(f"{path}:{number}: {describe_validation_error(exc)}") from exc
    ids = [q.id for q in questions]
    if repeated := sorted({i for i in ids if ids.count(i) > 1}):
        raise QuestionFileError(f"{path}: question ids used twice: {', '.join(repeated)}")
    if not questions:
        raise QuestionFileError(f"{path}: no question in it")
    return questions


def _squeezed(text: str) -> str:
    return " ".join(text.split()).casefold()
