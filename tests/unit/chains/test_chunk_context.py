"""Document-aware chunks: each chunk is embedded with its title, heading path and summary."""

from langchain_core.documents import Document

from chains.chunk_context import DocumentContext, embedded_text, heading_offsets
from chains.chunking import InputDocument, build_splitter, chunk_document

MARKDOWN = """# Stashing

Put your changes aside for a while and come back to them later.

## Saving

Run `git stash push` to save the work in progress.

```sh
# this comment is no heading
git stash push -m "wip"
```

## Restoring

### Applying

`git stash pop` applies the newest entry and drops it.
"""

ASCIIDOC = """git-stash(1)
============

NAME
----
git-stash - Stash the changes in a dirty working directory away

OPTIONS
-------
push [-m <message>]::
\tSave your local modifications to a new stash entry.
+
------------
$ git stash push
------------

EXAMPLES
--------
Pulling into a dirty tree::
\tWhen you are in the middle of something, you learn that there are upstream changes.
"""

RST = """******************
  Sorting HOW TO
******************

:Author: Andrew Dalke

Python lists have a built-in :meth:`list.sort` method that modifies the list
in-place. There is also a :func:`sorted` built-in function.

Sorting Basics
==============

A simple ascending sort is very easy.

Key Functions
-------------

Both take a *key* parameter.
"""

MAN_PAGE = """NAME
       tar - an archiving utility

SYNOPSIS
       tar [OPTION...] [FILE]...

DESCRIPTION
       GNU tar saves many files together into a single tape or disk archive.
"""


def test_markdown_headings_give_a_path_and_fenced_comments_are_no_headings() -> None:
    context = DocumentContext(MARKDOWN, {"source": "docs/stash.md"})
    assert [title for _, _, title in context.headings] == [
        "Stashing",
        "Saving",
        "Restoring",
        "Applying",
    ]
    assert context.title == "Stashing"
    assert context.summary == "Put your changes aside for a while and come back to them later."
    assert context.section(MARKDOWN.index("applies")) == ["Restoring", "Applying"]
    assert context.section(MARKDOWN.index("Run `git")) == ["Saving"]


def test_asciidoc_sections_skip_listing_blocks_and_the_name_line_is_the_summary() -> None:
    context = DocumentContext(ASCIIDOC, {})
    titles = [title for _, _, title in context.headings]
    assert titles == ["git-stash(1)", "NAME", "OPTIONS", "EXAMPLES"]
    assert context.summary == "git-stash - Stash the changes in a dirty working directory away"
    assert context.header(ASCIIDOC.index("upstream changes")) == (
        "git-stash(1) > EXAMPLES\ngit-stash - Stash the changes in a dirty working directory away"
    )


def test_rest_overlined_title_and_underline_levels_follow_first_appearance() -> None:
    headings = heading_offsets(RST)
    assert [(level, title) for _, level, title in headings] == [
        (1, "Sorting HOW TO"),
        (2, "Sorting Basics"),
        (3, "Key Functions"),
    ]
    context = DocumentContext(RST, {})
    assert context.summary == (
        "Python lists have a built-in :meth:`list.sort` method that modifies the list in-place."
    )
    assert context.section(RST.index("*key*")) == ["Sorting Basics", "Key Functions"]


def test_man_page_sections_in_capitals_are_headings() -> None:
    context = DocumentContext(MAN_PAGE, {"source": "/usr/share/man/tar.txt"})
    assert [title for _, _, title in context.headings] == ["Name", "Synopsis", "Description"]
    assert context.section(MAN_PAGE.index("GNU tar")) == ["Description"]


def test_a_given_title_wins_and_a_headingless_text_is_titled_by_its_file_name() -> None:
    assert DocumentContext(MARKDOWN, {"title": "Git stash guide"}).title == "Git stash guide"
    plain = DocumentContext("just some words\nand more words", {"source": "notes/todo.txt"})
    assert plain.title == "todo.txt"
    assert plain.header(5) == "todo.txt"


def test_every_chunk_is_embedded_with_its_title_and_heading_path_but_shows_only_itself() -> None:
    doc = InputDocument(id="stash", content=MARKDOWN, metadata={"source": "stash.md"})
    chunks = chunk_document(doc, build_splitter(120, 0))
    last = chunks[-1]
    assert "applies the newest entry" in last.page_content
    assert last.metadata["context"].startswith("Stashing > Restoring")
    assert "# Stashing" not in last.page_content
    embedded = embedded_text(last)
    assert embedded.startswith(last.metadata["context"] + "\n\n")
    assert embedded.endswith(last.page_content)
    assert all(c.metadata["context"].startswith("Stashing") for c in chunks)


def test_without_context_a_chunk_is_embedded_as_it_is() -> None:
    doc = InputDocument(id="stash", content=MARKDOWN)
    chunks = chunk_document(doc, build_splitter(120, 0), context=False)
    assert all("context" not in c.metadata for c in chunks)
    assert embedded_text(chunks[0]) == chunks[0].page_content
    old = Document(page_content="indexed before headers", metadata={"doc_id": "x"})
    assert embedded_text(old) == "indexed before headers"
