"""Files to documents: LangChain's loaders for text, Markdown, HTML and PDF.

A file's document id comes from its resolved path, so indexing the same file again
(after an edit, or from ``--watch``) replaces its chunks, and deleting the file can
remove them. ``source`` metadata is the path as given. An uploaded file has only a
name: its id comes from that name, so uploading a file of the same name replaces it.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from langchain_community.document_loaders import BSHTMLLoader, PyPDFLoader, TextLoader
from langchain_core.document_loaders import BaseLoader
from pypdf.errors import PyPdfError

from chains.chunking import InputDocument
from chains.errors import UnreadableFileError, UnsupportedFileError
from chains.events import MetadataValue


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


def is_supported(path: Path) -> bool:
    """Whether ``path`` has a suffix we can load."""
    return path.suffix.lower() in LOADERS


def file_doc_id(path: Path) -> str:
    """The stable document id of a file: a hash of its resolved path."""
    return "file-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]


def read_file(path: Path) -> tuple[str, dict[str, MetadataValue]]:
    """Parse ``path`` with the loader for its suffix: its text, and its title and page count.

    This is the step that runs a parser over text strangers wrote, so
    :class:`~chains.isolated_parsing.IsolatedParser` runs it in a child process.

    Raises :class:`~chains.errors.UnsupportedFileError` for an unknown suffix and
    :class:`~chains.errors.UnreadableFileError` (saying why) when the file is missing or
    its loader fails. A ``MemoryError`` is raised as itself, so a memory limit is named.
    """
    make_loader = LOADERS.get(path.suffix.lower())
    if make_loader is None:
        supported = ", ".join(sorted(LOADERS))
        raise UnsupportedFileError(
            f"unsupported file type {path.suffix!r} (supported: {supported})"
        )
    if not path.is_file():
        raise UnreadableFileError(f"no such file: {path}")
    try:
        pages = make_loader(path).load()
    except MemoryError:
        raise
    except Exception as exc:  # every loader's failure, said in our words
        if isinstance(exc.__cause__, MemoryError):
            raise exc.__cause__ from None
        raise UnreadableFileError(_why_unreadable(path, exc)) from exc
    metadata = {
        key: value
        for page in pages[:1]
        for key, value in page.metadata.items()
        if isinstance(value, MetadataValue) and key in ("title", "total_pages")
    }
    return "\n\n".join(page.page_content for page in pages), metadata


Reader = Callable[[Path], tuple[str, dict[str, MetadataValue]]]
"""How a file's text is read: :func:`read_file` itself, or an isolated run of it."""


def load_file(path: Path, read: Reader = read_file) -> InputDocument:
    """Read ``path`` into one :class:`InputDocument` whose id comes from the path.

    Raises what ``read`` raises, and pydantic's ``ValidationError`` when the text is
    empty or too large.
    """
    content, metadata = read(path)
    return InputDocument(
        id=file_doc_id(path), content=content, metadata={**metadata, "source": str(path)}
    )


def upload_doc_id(filename: str) -> str:
    """The stable document id of an uploaded file: a hash of its name."""
    return "upload-" + hashlib.sha256(filename.encode()).hexdigest()[:16]


def load_upload(filename: str, data: bytes, read: Reader = read_file) -> InputDocument:
    """Read an uploaded file with the loader for its suffix, as :func:`load_file` does.

    The loaders read paths, so the bytes go to a private temporary file under the
    upload's own name (its directory part dropped, so ``../`` cannot leave the folder;
    a name with a control character is refused). The folder is removed afterwards, by
    this process, even when ``read`` killed the child that read it. ``source`` metadata
    is that name. Raises what :func:`load_file` raises.
    """
    name = Path(filename).name
    if not name:
        raise UnsupportedFileError("an uploaded file needs a name with a suffix")
    if not name.isprintable():  # a NUL or control character: no file may be named so
        raise UnsupportedFileError(f"the file name {name!r} holds a control character")
    with tempfile.TemporaryDirectory(prefix="streaming-rag-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        doc = load_file(path, read)
    return doc.model_copy(
        update={"id": upload_doc_id(name), "metadata": {**doc.metadata, "source": name}}
    )


def _why_unreadable(path: Path, exc: BaseException) -> str:
    """The reason a loader failed; loaders wrap the real cause (``TextLoader`` does)."""
    causes = [exc, *([exc.__cause__] if exc.__cause__ else [])]
    if any(isinstance(c, UnicodeDecodeError) for c in causes):
        return f"{path.name} is not UTF-8 text"
    if any(isinstance(c, PyPdfError) for c in causes):
        return f"{path.name} is not a readable PDF"
    if any(isinstance(c, PermissionError) for c in causes):
        return f"{path.name} cannot be read: permission denied"
    return f"{path.name} could not be loaded as {path.suffix.lower()}"


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
