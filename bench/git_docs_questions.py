"""Questions on Debian's git documentation, for retrieval by document and by passage.

Written by hand on 2026-12-05, before any search of issue 40's changes ran on this
corpus, in the words a user would type rather than the pages' headings. Each names the
pages that answer it (a page's id is its file name without ``.txt``) and a phrase of
the answering passage; :class:`~bench.python_docs_questions.Question` scores them as it
does the Python-docs questions. The first turns of :mod:`bench.git_docs_dialogues`
(written a day earlier, for follow-ups) are the other half of the set.
"""

from __future__ import annotations

from bench.git_docs_dialogues import DIALOGUES
from bench.python_docs_questions import Question

WRITTEN = [
    Question("How do I put my changes aside for a while?", ("git-stash",), "git stash push"),
    Question(
        "How do I move my branch so it starts from the latest main?",
        ("git-rebase",),
        "--onto",
    ),
    Question("How can I delete a branch I no longer need?", ("git-branch",), "--delete"),
    Question(
        "How do I throw away my edits to one file and get the committed version back?",
        ("git-restore", "git-checkout"),
        "--staged",
    ),
    Question(
        "How do I see which files I changed and which are staged?",
        ("git-status",),
        "--short",
    ),
    Question(
        "How do I send my commits to the shared server?",
        ("git-push",),
        "--set-upstream",
    ),
    Question(
        "How do I get a zip or tar file of my project at some version?",
        ("git-archive",),
        "--format",
    ),
    Question(
        "How do I run a script automatically before every commit?",
        ("githooks",),
        "pre-commit",
    ),
    Question(
        "How can git remember how I resolved a conflict so it reuses it next time?",
        ("git-rerere",),
        "rerere.enabled",
    ),
    Question(
        "How do I check out only some folders of a very large repository?",
        ("git-sparse-checkout",),
        "cone",
    ),
    Question(
        "How do I rewrite history to remove a file from every commit?",
        ("git-filter-branch",),
        "--index-filter",
    ),
    Question(
        "How do I attach extra remarks to a commit without changing it?",
        ("git-notes",),
        "git notes add",
    ),
    Question(
        "How do I count how many commits each author made?",
        ("git-shortlog",),
        "--summary",
    ),
    Question(
        "How do I make git treat line endings of text files consistently?",
        ("gitattributes",),
        "eol",
    ),
    Question(
        "How do I store my password so I am not asked every time?",
        ("gitcredentials", "git-credential-store", "git-credential-cache"),
        "credential.helper",
    ),
    Question(
        "How do I apply a patch that someone emailed me, keeping their name?",
        ("git-am",),
        "mbox",
    ),
    Question(
        "How do I list every file git is tracking?",
        ("git-ls-files",),
        "--cached",
    ),
    Question(
        "How do I change the format of the dates the log shows?",
        ("git-log", "pretty-options", "rev-list-options"),
        "--date",
    ),
    Question(
        "How do I compare the commits of two versions of a branch after a rebase?",
        ("git-range-diff",),
        "range-diff",
    ),
    Question(
        "How do I find the common ancestor of two branches?",
        ("git-merge-base",),
        "merge-base",
    ),
    Question(
        "How do I tell git to use a graphical tool to resolve conflicts?",
        ("git-mergetool",),
        "merge.tool",
    ),
    Question(
        "How do I move a repository into a single file to carry it on a USB stick?",
        ("git-bundle",),
        "git bundle create",
    ),
    Question(
        "How do I start a new empty repository?",
        ("git-init",),
        "--bare",
    ),
    Question(
        "How do I see which commits are on my branch but not yet on the upstream one?",
        ("git-cherry", "git-log", "gitrevisions", "revisions"),
        "..",
    ),
]
"""24 questions written before any result was seen."""

FIRST_TURNS = [Question(d.first, d.first_pages, "") for d in DIALOGUES]
"""The dialogues' first questions; their passage level is their document level."""

QUESTIONS = WRITTEN + FIRST_TURNS
