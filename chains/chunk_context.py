"""Document-aware chunks: the title, headings and summary a chunk is embedded with.

A reference page's title and one-line summary sit in its first chunk only; embedded
alone, every other chunk of the page never says what the page is about, and a long
overview that does say it wins the search (issue 40). So each chunk is embedded, and
keyword-indexed, with a short header of its document's context, as LlamaIndex embeds
a node with its document's metadata and Anthropic's contextual retrieval prepends
document context, but without a model:

- the document's **title**: its ``title`` metadata (an HTML ``<title>``, a PDF's), else
  its first heading, else its ``source``'s file name;
- the **section path**: the headings above the chunk's start, outermost first
  (Markdown ``#`` and AsciiDoc ``=`` prefixes, reStructuredText/AsciiDoc/setext
  underlined and overlined titles, man-page section names in capitals);
- the document's **summary**: its first line of prose after the title, where one comes
  early (a man page's ``git-stash - Stash the changes...``).

The header is stored in the chunk's ``context`` metadata; the chunk's text, what a
source shows and the prompt quotes, stays the chunk itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePath

from langchain_core.documents import Document

SUMMARY_MAX_CHARS = 160
"""A summary line is cut to this length: the header must leave the chunk room in the
embedding model's 256 word pieces."""
SUMMARY_WITHIN_CHARS = 3_000
"""A summary line counts only when it starts this early in the document."""

_ATX = re.compile(r"^(#{1,6}|={1,6})[ \t]+(\S.*?)[ \t]*#*[ \t]*$")
_UNDERLINE = re.compile(r"^([=\-~^\"'`*+#:._])\1{2,}[ \t]*$")
_MAN_SECTION = re.compile(r"^[A-Z][A-Z ]{2,39}$")
_SYNOPSIS = re.compile(r"^[ \t]+:synopsis:[ \t]*(\S.*)$", re.M)
_FENCE = re.compile(r"^(```|~~~)")
_NOT_PROSE = re.compile(r"^(\.\. |:|\[|include::|image::|<|!\[|\||\+|-{3,}|={3,})")


def heading_offsets(text: str) -> list[tuple[int, int, str]]:
    """Each heading of ``text`` as ``(offset, level, title)``, in document order.

    Underline styles get levels in the order they first appear, as reStructuredText
    assigns them; a delimited block (an AsciiDoc ``----`` listing, a Markdown fence)
    holds no headings.
    """
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    found: list[tuple[int, int, str]] = []
    styles: list[tuple[str, bool]] = []
    block: str | None = None
    previous = ""
    for i, raw in enumerate(lines):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if block is not None:
            block = None if stripped == block else block
        elif _FENCE.match(line) and not _UNDERLINE.match(line):  # ```python
            block = line[:3]
        elif _UNDERLINE.match(line) and _opens_block(previous):
            if not _overline(lines, i):
                block = stripped  # a delimiter after a blank line opens a listing block
        elif (m := _UNDERLINE.match(line)) and (
            (overlined := i >= 2 and _overline(lines, i - 2)) or _is_title(previous, stripped)
        ):
            style = (m.group(1), overlined)
            if style not in styles:
                styles.append(style)
            found.append((starts[i - 1], styles.index(style) + 1, previous.strip()))
        elif m := _ATX.match(line):
            found.append((starts[i], len(m.group(1)), m.group(2).strip()))
        elif _MAN_SECTION.match(line) and not previous.strip() and _indented(lines, i + 1):
            found.append((starts[i], 2, stripped.title()))
        previous = line
    return found


def _is_title(line: str, underline: str) -> bool:
    title = line.strip()
    return (
        bool(title)
        and not line[:1].isspace()
        and not _UNDERLINE.match(line)
        and len(underline) >= len(title) - 2
    )


def _opens_block(previous: str) -> bool:
    """Whether a delimiter line after ``previous`` opens a block rather than underlining.

    It does after a blank line, an AsciiDoc continuation ``+`` or a block attribute
    line (``[source,shell]``).
    """
    before = previous.strip()
    return not before or before == "+" or (before.startswith("[") and before.endswith("]"))


def _overline(lines: list[str], i: int) -> bool:
    """Whether line ``i`` is a reStructuredText overline: a title, then the same line."""
    if i + 2 >= len(lines) or lines[i + 2].strip() != lines[i].strip():
        return False
    title, delimiter = lines[i + 1].rstrip(), lines[i].strip()
    # A one-line AsciiDoc listing looks the same, between lines of dashes.
    return bool(title.strip()) and delimiter[0] != "-" and 0 <= len(delimiter) - len(title) <= 3


def _indented(lines: list[str], i: int) -> bool:
    return i < len(lines) and lines[i][:1] in (" ", "\t") and bool(lines[i].strip())


def summary_line(text: str, headings: list[tuple[int, int, str]]) -> str:
    """A reST module's ``:synopsis:``, else the first sentence of prose after the first heading."""
    if synopsis := _SYNOPSIS.search(text, 0, SUMMARY_WITHIN_CHARS):
        return synopsis.group(1).strip()[:SUMMARY_MAX_CHARS]
    if not headings:
        return ""
    heading_starts = {offset for offset, _, _ in headings}
    offset = headings[0][0]
    for line in text[offset:SUMMARY_WITHIN_CHARS].splitlines(keepends=True):
        start, offset = offset, offset + len(line)
        stripped = line.strip()
        if start in heading_starts or not stripped or line[:1].isspace():
            continue
        if _UNDERLINE.match(stripped) or _NOT_PROSE.match(stripped):
            continue
        paragraph = " ".join(text[start:].split("\n\n", 1)[0].split())
        return re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0][:SUMMARY_MAX_CHARS]
    return ""


class DocumentContext:
    r"""One document's title, headings and summary, which each chunk's header draws on.

    Example:
        >>> context = DocumentContext("# Stash\\nPut work aside.\\n## Options\\n...", {})
        >>> context.header(30)
        'Stash > Options\\nPut work aside.'

    """

    def __init__(self, text: str, metadata: Mapping[str, object]) -> None:
        self.headings = heading_offsets(text)
        self.summary = summary_line(text, self.headings)
        given = metadata.get("title")
        source = metadata.get("source")
        if isinstance(given, str) and given.strip():
            self.title = given.strip()
        elif self.headings:
            self.title = self.headings[0][2]
        else:
            self.title = PurePath(source).name if isinstance(source, str) else ""

    def section(self, offset: int) -> list[str]:
        """The headings in force at ``offset``, outermost first, the title left out."""
        path: list[tuple[int, str]] = []
        for start, level, title in self.headings:
            if start > offset:
                break
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
        return [title for _, title in path if title != self.title]

    def header(self, offset: int) -> str:
        """The chunk header: ``title > section > path`` on one line, the summary below."""
        first = " > ".join([self.title, *self.section(offset)] if self.title else [])
        return "\n".join(part for part in (first, self.summary) if part)


def document_card(context: str) -> str:
    """A document's title and summary, read back from one of its chunks' headers."""
    first, _, summary = context.partition("\n")
    title = first.split(" > ", 1)[0]
    return f"{title}\n{summary}" if summary else title


def embedded_text(chunk: Document) -> str:
    """What is embedded and keyword-indexed for ``chunk``: its header, then its text."""
    context = chunk.metadata.get("context")
    return f"{context}\n\n{chunk.page_content}" if context else chunk.page_content
