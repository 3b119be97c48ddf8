"""Debian's git documentation and two-turn dialogues over it, for follow-up search (section 15).

Written by hand on 2026-12-05 before any search ran on this corpus: a first question in
plain words, then a follow-up that leans on it ("it", "them", "that", or naming nothing),
each with the pages that answer it (a page's id is its file name without ``.txt``).
A follow-up's answer is found when any of its pages is among the sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chains.chunking import InputDocument

GIT_ROOT = Path("/usr/share/doc/git-doc")


@dataclass(frozen=True)
class Dialogue:
    """A first turn and its follow-up, each with the pages that answer it."""

    first: str
    first_pages: tuple[str, ...]
    follow_up: str
    follow_up_pages: tuple[str, ...]


DIALOGUES = [
    Dialogue(
        "How can I temporarily shelve my uncommitted work?",
        ("git-stash",),
        "And how do I bring it back later?",
        ("git-stash",),
    ),
    Dialogue(
        "How do I find which commit introduced a bug?",
        ("git-bisect",),
        "Can it test each step automatically with a script?",
        ("git-bisect",),
    ),
    Dialogue(
        "How do I see who last changed each line of a file?",
        ("git-blame",),
        "Can it ignore whitespace changes?",
        ("git-blame", "blame-options"),
    ),
    Dialogue(
        "How do I copy a single commit from another branch onto mine?",
        ("git-cherry-pick",),
        "What if that causes a conflict?",
        ("git-cherry-pick",),
    ),
    Dialogue(
        "How do I undo the last commit but keep the changes?",
        ("git-reset",),
        "What is the difference between its soft and hard modes?",
        ("git-reset",),
    ),
    Dialogue(
        "How do I download a repository for the first time?",
        ("git-clone",),
        "Can I get only the recent history to save space?",
        ("git-clone",),
    ),
    Dialogue(
        "How do I give a name to a release commit?",
        ("git-tag",),
        "How do I send those to the server?",
        ("git-push", "git-tag"),
    ),
    Dialogue(
        "How can I see the history of commits?",
        ("git-log",),
        "How do I limit it to one author?",
        ("git-log", "rev-list-options"),
    ),
    Dialogue(
        "How do I combine several commits into one before sharing?",
        ("git-rebase",),
        "What does the fixup command do there?",
        ("git-rebase",),
    ),
    Dialogue(
        "How do I recover a commit I lost after a reset?",
        ("git-reflog",),
        "How long are those entries kept?",
        ("git-reflog", "git-gc"),
    ),
    Dialogue(
        "How do I make git ignore build output files?",
        ("gitignore",),
        "How do I check why a file is being ignored?",
        ("git-check-ignore",),
    ),
    Dialogue(
        "How do I work on two branches at the same time in different folders?",
        ("git-worktree",),
        "How do I remove one when I am done?",
        ("git-worktree",),
    ),
    Dialogue(
        "How do I include another repository inside mine?",
        ("git-submodule", "gitsubmodules"),
        "How do I update them after pulling?",
        ("git-submodule",),
    ),
    Dialogue(
        "How do I see what changed between my working files and the last commit?",
        ("git-diff",),
        "Can it show only the file names?",
        ("git-diff", "diff-options"),
    ),
    Dialogue(
        "How do I set my name and email for commits?",
        ("git-config",),
        "Can I set that only for one repository?",
        ("git-config",),
    ),
    Dialogue(
        "How do I create a patch file to email?",
        ("git-format-patch",),
        "How does the receiver apply it?",
        ("git-am",),
    ),
    Dialogue(
        "How do I remove untracked files from my working tree?",
        ("git-clean",),
        "How can I preview what it would delete?",
        ("git-clean",),
    ),
    Dialogue(
        "How do I change the message of my last commit?",
        ("git-commit",),
        "What if I already pushed it?",
        ("git-push", "git-commit", "git-rebase"),
    ),
    Dialogue(
        "How do I fetch changes from the server without merging them?",
        ("git-fetch",),
        "How do I make it remove branches that were deleted on the server?",
        ("git-fetch", "fetch-options"),
    ),
    Dialogue(
        "How do I search the content of tracked files for a string?",
        ("git-grep",),
        "Can it show the line numbers?",
        ("git-grep",),
    ),
    Dialogue(
        "How do I rename a file so git keeps its history?",
        ("git-mv",),
        "How does the log follow it across the rename?",
        ("git-log",),
    ),
    Dialogue(
        "How do I pack the repository to save disk space?",
        ("git-gc", "git-repack"),
        "How often does that run on its own?",
        ("git-gc",),
    ),
    Dialogue(
        "How do I add a second server to push to?",
        ("git-remote",),
        "How do I rename it?",
        ("git-remote",),
    ),
    Dialogue(
        "How do I undo a commit without rewriting history?",
        ("git-revert",),
        "Can it undo a merge commit too?",
        ("git-revert",),
    ),
    Dialogue(
        "How do I stage only some of the changes in a file?",
        ("git-add",),
        "How do I unstage them again?",
        ("git-restore", "git-reset"),
    ),
    Dialogue(
        "How do I see the details of a single commit?",
        ("git-show",),
        "Can it show a file as it was in that commit?",
        ("git-show",),
    ),
    Dialogue(
        "How do I merge another branch into the current one?",
        ("git-merge",),
        "How do I stop halfway if it goes wrong?",
        ("git-merge",),
    ),
    Dialogue(
        "How do I check the integrity of the repository database?",
        ("git-fsck",),
        "What does it mean when it reports dangling objects?",
        ("git-fsck",),
    ),
    Dialogue(
        "How do I describe a commit relative to the nearest tag?",
        ("git-describe",),
        "Can it include lightweight ones as well?",
        ("git-describe",),
    ),
    Dialogue(
        "How do I sign my commits with GPG?",
        ("git-commit",),
        "How do I verify the signatures of them?",
        ("git-verify-commit", "git-log"),
    ),
    Dialogue(
        "How do I list all branches including the remote ones?",
        ("git-branch",),
        "How do I delete one that is already merged?",
        ("git-branch",),
    ),
    Dialogue(
        "How do I temporarily switch to an old commit to look around?",
        ("git-checkout", "git-switch"),
        "How do I get back to where I was?",
        ("git-checkout", "git-switch"),
    ),
]
"""32 dialogues; every page named exists in ``git-doc`` 2.39."""


def git_documents() -> list[InputDocument]:
    """Every page of ``git-doc`` (``apt-get install git-doc``), its id the file name."""
    if not GIT_ROOT.is_dir():
        raise SystemExit(f"{GIT_ROOT} is missing: apt-get install git-doc (make bench does)")
    return [
        InputDocument(
            id=path.stem,
            content=path.read_text(encoding="utf-8", errors="replace"),
            metadata={"source": f"git-doc/{path.name}"},
        )
        for path in sorted(GIT_ROOT.glob("*.txt"))
    ]
