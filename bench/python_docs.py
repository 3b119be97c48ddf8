"""The retrieval benchmark's corpus: the Python 3.11 documentation, from Debian's package.

Nobody on this project wrote it, and it installs from a package (``python3.11-doc``,
which ships the reST sources as ``_sources/**/*.rst.txt``; ``make bench`` installs it).
The corpus is every HOWTO, FAQ and tutorial chapter plus the library chapters below:
about 2.4 MB of text, some 3,500 chunks at the default chunk size.

The written questions are in :mod:`bench.python_docs_questions`.

Developers also ask about a name they already have (``pathlib.Path.stat``). The *API
questions* (:func:`api_questions`) are drawn, not written: 60 of the names that one
``.. function::``, ``.. method::``, ``.. class::`` (and the like) directive of a library
chapter defines, sampled with a fixed seed, each asked as "What does NAME do?". The
passage is the directive line itself.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

from bench.python_docs_questions import Question
from chains.chunking import InputDocument

ROOT = Path("/usr/share/doc/python3.11/html/_sources")
SECTIONS = ("howto", "faq", "tutorial")
LIBRARY = [
    "json",
    "csv",
    "pathlib",
    "asyncio-task",
    "subprocess",
    "sqlite3",
    "datetime",
    "functools",
    "itertools",
    "collections",
    "dataclasses",
    "heapq",
    "tempfile",
    "hashlib",
    "shutil",
    "secrets",
    "unittest",
    "re",
    "logging",
    "enum",
    "random",
    "threading",
    "glob",
    "time",
    "statistics",
    "zipfile",
]

def documents() -> list[InputDocument]:
    """Every chapter of the corpus, its id the path under ``_sources`` without the suffix."""
    if not ROOT.is_dir():
        raise SystemExit(f"{ROOT} is missing: apt-get install python3.11-doc (make bench does)")
    paths = [p for section in SECTIONS for p in sorted((ROOT / section).glob("*.rst.txt"))]
    paths += [ROOT / "library" / f"{name}.rst.txt" for name in LIBRARY]
    out = []
    for path in paths:
        doc_id = str(path.relative_to(ROOT)).removesuffix(".rst.txt")
        text = path.read_text(encoding="utf-8")
        out.append(InputDocument(id=doc_id, content=text, metadata={"source": doc_id}))
    return out


_DEFINITION = re.compile(
    r"^\.\. (?:function|method|class|exception|attribute|data|decorator|coroutinefunction"
    r"|classmethod|staticmethod):: ([A-Za-z_][\w.]*).*$",
    re.M,
)
API_SEED = 13


def api_questions(chapters: list[InputDocument], n: int = 60) -> list[Question]:
    """``n`` names a library chapter defines once, sampled with :data:`API_SEED`."""
    found = [
        (doc.id, match.group(1), match.group(0))
        for doc in chapters
        if doc.id.startswith("library/")
        for match in _DEFINITION.finditer(doc.content)
    ]
    defined = Counter((doc_id, name) for doc_id, name, _ in found)
    once = sorted(item for item in found if defined[item[:2]] == 1)
    questions = []
    for doc_id, name, line in random.Random(API_SEED).sample(once, n):
        module = doc_id.removeprefix("library/").split("-")[0]
        qualified = name if name.startswith(f"{module}.") else f"{module}.{name}"
        questions.append(Question(f"What does {qualified} do?", (doc_id,), line))
    return questions
