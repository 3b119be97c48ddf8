"""Files to documents: LangChain's loaders for text, Markdown, HTML and PDF.

A file's document id comes from its resolved path, so indexing the same file again
(after an edit, or from ``--watch``) replaces its chunks, and deleting the file can
remove them. ``source`` metadata is the path as given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

from langchain_community.document_loaders import BSHTMLLoader, PyPDFLoader, TextLoader
from langchain_core.document_loaders import BaseLoader

from chains.ingest import InputDocument


def _html_loader(path: Path) -> BaseLoader:
    # The standard library's parser, so lxml is not a dependency; newlines keep blocks apart.
    return BSHTMLLoader(path, bs_kwargs={"features": "html.parser"}, get_text_separator="\n")


def _pdf_loader(path: Path) -> BaseLoader:
    # pypdf: pure Python and maintained; one document per file, pages joined by a form feed.
    return PyPDFLoader(path, mode="single")


def _text_loader(path: Path) -> BaseLoader:
    return TextLoader(path, encoding="utf-8")


LOADERS: dict[str, Callable[[Path], BaseLoader]] = {
    ".txt": _text_loader,
    ".md": _text_loader,
    ".markdown": _text_loader,
    ".html": _html_loader,
    ".htm": _html_loader,
    ".pdf": _pdf_loader,
}
"""The loader for each supported file suffix (compared in lower case)."""


class UnsupportedFileError(ValueError):
    """The file's suffix has no loader."""


def is_supported(path: Path) -> bool:
    """Whether ``path`` has a suffix we can load."""
    return path.suffix.lower() in LOADERS


def file_doc_id(path: Path) -> str:
    """The stable document id of a file: a hash of its resolved path."""
    return "file-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]


def load_file(path: Path) -> InputDocument:
    """Read ``path`` with the loader for its suffix into one :class:`InputDocument`.

    Raises :class:`UnsupportedFileError` for an unknown suffix, ``OSError`` when the
    file cannot be read, and pydantic's ``ValidationError`` when its text is empty or
    too large; loader-specific errors (a corrupt PDF, bad UTF-8) pass through.
    """
    make_loader = LOADERS.get(path.suffix.lower())
    if make_loader is None:
        supported = ", ".join(sorted(LOADERS))
        raise UnsupportedFileError(
            f"unsupported file type {path.suffix!r} (supported: {supported})"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    pages = make_loader(path).load()
    metadata = {
        key: value
        for page in pages[:1]
        for key, value in page.metadata.items()
        if isinstance(value, str | int | float | bool) and key in ("title", "total_pages")
    }
    return InputDocument(
        id=file_doc_id(path),
        content="\n\n".join(page.page_content for page in pages),
        metadata={**metadata, "source": str(path)},
    )


def find_files(paths: Iterable[Path]) -> list[Path]:
    """The supported files named by ``paths``, directories searched recursively.

    A file named explicitly is kept even when unsupported, so the caller reports it.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_supported(p)))
        else:
            found.append(path)
    return found
