"""A streaming citation tracker: finds ``[doc-001]`` keys as tokens arrive.

It looks at each character once and keeps only the text of a bracket that is still
open (at most ``max_bracket_chars``), so its cost is O(1) amortised per character,
whatever the answer's length, and a key split across tokens (``[``, ``doc``, ``-00``,
``1]``) is found when its closing bracket arrives. Inside one bracket, several keys
may be listed (``[doc-001, doc-002]``). Keys are normalised, so the model's likely
variants (``[Doc-1]``, ``[doc 001]``, ``[doc_001]``, ``【doc-001】``) count as ``doc-001``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from chains.events import CITE_KEY_FORMAT

DEFAULT_KEY_PATTERN = r"doc[-_ ]?0*(\d{1,4})"
"""One key inside a bracket, in any variant a model writes; group 1 is the source number."""

_OPENERS = "[【"
_CLOSERS = "]】"


@dataclass(frozen=True)
class Citation:
    """A key's first appearance in the answer."""

    cite: str
    source_id: str | None
    valid: bool
    token_index: int


class CitationTracker:
    """Report each citation key the first time the streamed answer completes it.

    Example:
        >>> tracker = CitationTracker({"doc-001": "ttft:0"})
        >>> [tracker.feed(t) for t in ["See [", "doc", "-00", "1] and [doc-009]"]][-1]
        [Citation(cite='doc-001', source_id='ttft:0', valid=True, token_index=3),
         Citation(cite='doc-009', source_id=None, valid=False, token_index=3)]

    """

    def __init__(
        self,
        sources: Mapping[str, str | None],
        *,
        key_pattern: str = DEFAULT_KEY_PATTERN,
        key_format: str = CITE_KEY_FORMAT,
        max_bracket_chars: int = 80,
    ) -> None:
        if max_bracket_chars < 8:
            raise ValueError(f"max_bracket_chars must be at least 8, got {max_bracket_chars}")
        pattern = re.compile(key_pattern, re.IGNORECASE)
        if pattern.groups < 1:
            raise ValueError(f"key_pattern needs a group for the source number: {key_pattern!r}")
        self._sources = dict(sources)
        self._pattern = pattern
        self._format = key_format
        self._max = max_bracket_chars
        self._open: list[str] | None = None  # characters of the bracket being read
        self._tokens = 0
        self.seen: dict[str, Citation] = {}

    def feed(self, token: str) -> list[Citation]:
        """Consume one token; return the citations it completed that were not seen before."""
        index = self._tokens
        self._tokens += 1
        found: list[Citation] = []
        for char in token:
            if char in _OPENERS:
                self._open = []
            elif self._open is None:
                continue
            elif char in _CLOSERS:
                found.extend(self._close(index))
            elif len(self._open) >= self._max:
                self._open = None  # not a citation: prose in brackets
            else:
                self._open.append(char)
        return found

    def _close(self, token_index: int) -> list[Citation]:
        """Read the keys of the bracket that just closed."""
        body = "".join(self._open or ())
        self._open = None
        new = []
        for match in self._pattern.finditer(body):
            cite = self._format.format(int(match.group(1)))
            if cite in self.seen:
                continue
            valid = cite in self._sources
            citation = Citation(cite, self._sources.get(cite), valid, token_index)
            self.seen[cite] = citation
            new.append(citation)
        return new

    @property
    def cited(self) -> list[str]:
        """Valid keys, in the order the answer first cited them."""
        return [c.cite for c in self.seen.values() if c.valid]

    @property
    def uncited(self) -> list[str]:
        """Retrieved sources the answer never cited."""
        return [cite for cite in self._sources if cite not in self.seen]

    @property
    def invalid(self) -> list[str]:
        """Keys the answer cited that no retrieved source has."""
        return [c.cite for c in self.seen.values() if not c.valid]
