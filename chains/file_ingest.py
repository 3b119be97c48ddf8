"""Index files once, or follow a directory and keep the index in step with it.

Both report one :class:`FileResult` per file, so a command line can draw a progress
bar and a summary table without knowing the pipeline's stages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from watchfiles import Change, DefaultFilter, awatch

from chains.chunking import InputDocument
from chains.errors import error_event_for
from chains.events import ErrorEvent
from chains.ingest import Ingestor
from chains.ingest_events import DocErrorEvent, DocStageEvent
from chains.loaders import Reader, file_doc_id, is_supported, load_file, read_file


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    path: Path
    doc_id: str
    status: Literal["indexed", "removed", "failed"]
    num_chunks: int = 0
    error: str = ""


async def index_files(
    ingestor: Ingestor, files: Sequence[Path], *, read: Reader = read_file
) -> AsyncIterator[FileResult]:
    """Load and index ``files``, yielding each one's result as it is known.

    ``read`` parses a file (an :class:`~chains.isolated_parsing.IsolatedParser`'s
    ``read`` parses it in a child process).

    A file that cannot be loaded (unsupported, unreadable, corrupt) fails on its own;
    the others are still indexed. When the run fails as a whole, every file not yet
    reported fails with its reason.
    """
    loaded: list[InputDocument] = []
    paths: dict[str, Path] = {}
    for path in files:
        try:
            doc = await asyncio.to_thread(load_file, path, read)
        except Exception as exc:  # any loader's failure is this file's failure only
            yield FileResult(path, file_doc_id(path), "failed", error=error_event_for(exc).message)
            continue
        loaded.append(doc)
        paths[doc.doc_id] = path
    if not loaded:
        return
    async for event in ingestor.run(loaded):
        if isinstance(event, DocStageEvent) and event.stage == "ready":
            path = paths.pop(event.doc_id)
            yield FileResult(path, event.doc_id, "indexed", event.num_chunks_indexed or 0)
        elif isinstance(event, DocErrorEvent) and event.doc_id in paths:
            yield FileResult(paths.pop(event.doc_id), event.doc_id, "failed", error=event.error)
        elif isinstance(event, ErrorEvent):
            for doc_id, path in paths.items():
                yield FileResult(path, doc_id, "failed", error=event.message)


class SupportedFilesFilter(DefaultFilter):
    """watchfiles' default ignores (VCS folders, editor swap files) plus our suffixes."""

    def __call__(self, change: Change, path: str) -> bool:
        """Keep changes to files we can load."""
        return is_supported(Path(path)) and super().__call__(change, path)


async def watch_files(
    paths: Sequence[Path],
    ingestor: Ingestor,
    *,
    stop_event: asyncio.Event | None = None,
    read: Reader = read_file,
) -> AsyncIterator[FileResult]:
    """Follow ``paths``: re-index files that appear or change, drop files that vanish.

    Each batch of changes is judged by what is on disk when it is handled, so an
    editor's save-by-rename (delete then create) re-indexes instead of removing.
    Runs until ``stop_event`` is set (or the task is cancelled).
    """
    async for changes in awatch(*paths, watch_filter=SupportedFilesFilter(), stop_event=stop_event):
        touched = sorted({Path(path) for _, path in changes})
        gone = [p for p in touched if not p.exists()]
        for path in gone:
            removed = await ingestor.remove([file_doc_id(path)])
            yield FileResult(path, file_doc_id(path), "removed", removed[file_doc_id(path)])
        async for result in index_files(ingestor, [p for p in touched if p.exists()], read=read):
            yield result
