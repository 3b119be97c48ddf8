"""A streaming sentence splitter, and what a sentence claims and cites.

:class:`SentenceSplitter` finds sentence ends in an answer as it streams: a stop, then
the citations written after it, then the next sentence's first character; or a line
end. Abbreviations, initials, decimals, list markers, inline code and code blocks do not
end a sentence, and the same sentences come out however the text is cut into tokens.
Live grounding (:mod:`chains.grounding`) scores what it splits; the quality bench reads
keys and claims with the same two helpers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chains.citations import DEFAULT_KEY_PATTERN
from chains.events import CITE_KEY_FORMAT

_ABBREVIATIONS = ("e.g", "i.e", "vs", "cf", "approx", "dr", "mr", "mrs", "ms", "prof", "fig", "no")

_END = re.compile(
    # A stop, closing quotes or brackets, citations written after it, then whitespace and
    # a character that starts a sentence (not lowercase, not a citation still to come).
    r"[.!?]+[\"'\u201d\u2019)*_]*(?:[ \t]*[\[【][^\]】\n]{1,80}[\]】])*(?=\s+[^\sa-z\[【])"
    r"|\n"
)
_LIST_MARKER = re.compile(r"\s*(?:\d{1,3}|[A-Za-z])[.)]")
_BRACKET = re.compile(r"[\[【]([^\]】]{1,80})[\]】]")
_KEY = re.compile(DEFAULT_KEY_PATTERN, re.IGNORECASE)
_FENCE = "```"


@dataclass(frozen=True)
class Sentence:
    """A finished sentence: its text and character span in the answer (end exclusive)."""

    start: int
    end: int
    text: str
    code: bool = False


class SentenceSplitter:
    """Cut a streamed answer into sentences as soon as each one is known to be finished.

    A sentence is finished when the next one has started (its first character arrived),
    so a citation written after the full stop stays with its sentence.

    Example:
        >>> splitter = SentenceSplitter()
        >>> [s.text for t in ["Chroma stores vec", "tors. [doc-001] It", " is fast."]
        ...  for s in splitter.feed(t)] + [s.text for s in splitter.flush()]
        ['Chroma stores vectors. [doc-001]', 'It is fast.']

    """

    def __init__(self) -> None:
        self._text = ""
        self._start = 0

    def feed(self, token: str) -> list[Sentence]:
        """Add one token; the sentences it finished."""
        self._text += token
        return self._finished(final=False)

    def flush(self) -> list[Sentence]:
        """The answer has ended: the sentences still open."""
        return self._finished(final=True)

    def _finished(self, *, final: bool) -> list[Sentence]:
        out: list[Sentence] = []
        while (cut := self._next_cut(final)) is not None:
            end, resume, code = cut
            text = self._text[self._start : end]
            start = self._start + len(text) - len(text.lstrip())
            if text.strip():
                out.append(Sentence(start, start + len(text.strip()), text.strip(), code))
            self._start = resume
        return out

    def _next_cut(self, final: bool) -> tuple[int, int, bool] | None:
        """Where the open sentence ends, where the next begins, and whether it is code."""
        text, start = self._text, self._start
        body = len(text) - len(text[start:].lstrip())
        if body == len(text):
            return None
        if text.startswith(_FENCE, body):
            close = text.find(_FENCE, body + len(_FENCE))
            if close == -1:
                return (len(text), len(text), True) if final else None
            return close + len(_FENCE), close + len(_FENCE), True
        fence = text.find(_FENCE, body)
        limit = len(text) if fence == -1 else fence
        for match in _END.finditer(text, body, limit):
            before = text[body : match.start()]
            if match.group() == "\n":
                return match.start(), match.end(), False
            if before.count("`") % 2 or _is_abbreviation(before):
                continue
            if _LIST_MARKER.fullmatch(text[body : match.end()]):
                continue
            return match.end(), match.end(), False
        if fence != -1:
            return fence, fence, False
        return (len(text), len(text), False) if final else None


def _is_abbreviation(before: str) -> bool:
    """Whether the stop after ``before`` ends an abbreviation or an initial (``J.``)."""
    word = re.search(r"[\w.]+$", before)
    if word is None:
        return False
    last = word.group().lower()
    return last in _ABBREVIATIONS or (len(last) == 1 and before[-1].isupper())


def cited_keys(sentence: str) -> list[str]:
    """The normalised keys cited in one sentence, in order (``[Doc-1]`` is ``doc-001``)."""
    return [
        CITE_KEY_FORMAT.format(int(m.group(1)))
        for body in _BRACKET.findall(sentence)
        for m in _KEY.finditer(body)
    ]


def claim(sentence: str) -> str:
    """A sentence without its citation brackets: the text a source must support."""
    return " ".join(_BRACKET.sub(" ", sentence).split())
