"""The retrieval benchmark's written questions on the Python documentation corpus.

Each question was written for this benchmark, in words of our own rather than the
documentation's headings, with the chapters that answer it and a phrase from the passage
that does (``store_true``, ``non-greedy``). A chapter-level hit is any chunk of an
answering chapter; a passage-level hit is such a chunk that also holds the phrase, which
is what a prompt of four chunks needs. A few phrases (``random``, ``Exception``) occur in
many chunks of their chapter, so those questions are close to chapter level.
The absent questions have no answer anywhere in the corpus; they calibrate
``RAG_MIN_SCORE``.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Question(NamedTuple):
    """A question, the chapters that answer it, and a phrase the answering passage holds."""

    text: str
    chapters: tuple[str, ...]
    passage: str
    """A hit at passage level is a chunk of one of ``chapters`` that contains this."""

    def first_hit(self, hits: list[Any], passage: bool) -> int | None:
        """1-based rank of the first chunk from an answering chapter (holding the phrase)."""
        for rank, hit in enumerate(hits, 1):
            if hit.metadata["doc_id"] in self.chapters and (
                not passage or self.passage in hit.page_content
            ):
                return rank
        return None


QUESTIONS = [
    Question(
        "How do I sort a list of objects by one of their attributes?",
        ("howto/sorting",),
        "attrgetter",
    ),
    Question(
        "Why must a server socket call listen and accept before talking?",
        ("howto/sockets",),
        "listen",
    ),
    Question(
        "How do I stop a regular expression from matching as much text as it can?",
        ("howto/regex", "library/re"),
        "non-greedy",
    ),
    Question(
        "How do I add a command-line flag that sets a value to True?",
        ("howto/argparse",),
        "store_true",
    ),
    Question(
        "How can an attribute lookup call a method that computes the value?",
        ("howto/descriptor",),
        "__get__",
    ),
    Question(
        "Why are my info log messages not printed by default?",
        ("howto/logging", "library/logging"),
        "default level is ``WARNING``",
    ),
    Question(
        "How can several processes write log records to one file safely?",
        ("howto/logging-cookbook",),
        "multiple processes",
    ),
    Question(
        "What is the difference between a code point and an encoding like UTF-8?",
        ("howto/unicode",),
        "code point",
    ),
    Question(
        "How does a generator expression differ from a list comprehension?",
        ("howto/functional", "tutorial/classes"),
        "enerator expression",
    ),
    Question(
        "How do I define an enumeration whose members can be combined as bit flags?",
        ("howto/enum", "library/enum"),
        "Flag",
    ),
    Question(
        "How do I download a web page and handle an HTTP 404 error?",
        ("howto/urllib2",),
        "HTTPError",
    ),
    Question(
        "How do I test whether an IP address is inside a subnet?",
        ("howto/ipaddress",),
        "in network",
    ),
    Question(
        "What is the right way to read the type annotations of a function?",
        ("howto/annotations",),
        "get_annotations",
    ),
    Question(
        "How do I read single key presses in a full-screen terminal program?",
        ("howto/curses",),
        "getch",
    ),
    Question(
        "Why does a function's empty list default keep values from earlier calls?",
        ("faq/programming",),
        "mutable",
    ),
    Question(
        "How do I share a configuration variable between several modules?",
        ("faq/programming",),
        "config",
    ),
    Question(
        "Why does Python group statements by indentation instead of braces?",
        ("faq/design",),
        "indentation",
    ),
    Question(
        "Why is the result of 0.1 + 0.2 not exactly 0.3?",
        ("tutorial/floatingpoint", "faq/design"),
        "0.1",
    ),
    Question("How do I generate random numbers?", ("faq/library", "library/random"), "random"),
    Question("How do I run a Python script on Windows?", ("faq/windows",), "Windows"),
    Question(
        "How do I define my own exception type and raise it?", ("tutorial/errors",), "Exception"
    ),
    Question(
        "What do the global and nonlocal statements change about a name's scope?",
        ("tutorial/classes", "faq/programming"),
        "nonlocal",
    ),
    Question(
        "How do I create an isolated environment to install packages into?",
        ("tutorial/venv",),
        "venv",
    ),
    Question(
        "How do I format a number with two decimals inside a string?",
        ("tutorial/inputoutput", "tutorial/floatingpoint"),
        ".2f",
    ),
    Question(
        "What should I use to append and pop items from both ends of a queue quickly?",
        ("tutorial/datastructures", "library/collections"),
        "deque",
    ),
    Question(
        "Where does the import statement look for modules?", ("tutorial/modules",), "sys.path"
    ),
    Question("How do I turn a dictionary into a JSON string?", ("library/json",), "dumps"),
    Question(
        "How do I read each row of a CSV file as a dictionary?", ("library/csv",), "DictReader"
    ),
    Question(
        "How do I find every file matching a pattern like *.py in a folder tree?",
        ("library/pathlib", "library/glob"),
        "glob",
    ),
    Question(
        "How do I run several coroutines at the same time and wait for all of them?",
        ("library/asyncio-task",),
        "gather",
    ),
    Question(
        "How do I run an external program and capture what it prints?",
        ("library/subprocess",),
        "capture_output",
    ),
    Question(
        "How do I pass parameters to an SQL query safely instead of formatting strings?",
        ("library/sqlite3",),
        "placeholder",
    ),
    Question(
        "How do I convert a Unix timestamp into a datetime with the UTC time zone?",
        ("library/datetime",),
        "fromtimestamp",
    ),
    Question(
        "How do I remember the results of an expensive function call?",
        ("library/functools",),
        "cache",
    ),
    Question(
        "How do I group consecutive items of a sequence that share a key?",
        ("library/itertools",),
        "groupby",
    ),
    Question(
        "How do I count how many times each word appears?", ("library/collections",), "Counter"
    ),
    Question(
        "How do I get __init__ and __repr__ generated from a class's fields?",
        ("library/dataclasses",),
        "__repr__",
    ),
    Question(
        "How do I get the three smallest numbers from a big list efficiently?",
        ("library/heapq",),
        "nsmallest",
    ),
    Question(
        "How do I make a scratch folder that is removed when I am done?",
        ("library/tempfile",),
        "TemporaryDirectory",
    ),
    Question(
        "How do I compute the SHA-256 checksum of a file?", ("library/hashlib",), "file_digest"
    ),
    Question(
        "How do I copy a directory with everything inside it?", ("library/shutil",), "copytree"
    ),
    Question(
        "How do I make an unguessable token for a password reset link?",
        ("library/secrets",),
        "token_",
    ),
    Question(
        "How do I check in a test that some code raises an exception?",
        ("library/unittest",),
        "assertRaises",
    ),
    Question(
        "How do I run a function in a background thread and wait for it to finish?",
        ("library/threading",),
        "join",
    ),
    Question(
        "How do I compute the median and standard deviation of some numbers?",
        ("library/statistics",),
        "stdev",
    ),
]
"""45 questions: each with the chapters that answer it and a phrase of the answer."""

ABSENT = [
    "What is the capital of Australia?",
    "How long should I boil an egg for a soft yolk?",
    "Who wrote the novel Pride and Prejudice?",
    "How many players are on a rugby union team?",
    "Which planet in the solar system has the most moons?",
    "How do I fix a flat bicycle tyre?",
    "When is the best season to plant tulip bulbs?",
    "Who painted the Mona Lisa?",
    "How do I teach a puppy to sit?",
    "What is the tallest mountain in Africa?",
]
"""Questions the corpus cannot answer."""
