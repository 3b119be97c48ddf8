"""Our exceptions, and the one place where any exception becomes a client-safe error.

The hierarchy::

    StreamingRagError             every error we raise on purpose; its message is for users
    ├── LocalModelServerError     the local model server could not start
    ├── DocumentNotFoundError     no indexed document has that id
    ├── KnowledgeBaseNotFoundError  no knowledge base has that name
    ├── KnowledgeBaseConflictError  the knowledge base exists already, or is the default one
    ├── SearchTimeoutError        embedding the question or searching took too long
    ├── EmbeddingMismatchError    the collection was indexed with another embedding model
    ├── StoreUnavailableError     the Chroma server (or Redis, for the write lock) does not answer
    └── DocumentError             one document or file cannot be indexed; the others go on
        ├── UnsupportedFileError  no loader for the file's suffix
        ├── UnreadableFileError   missing, unreadable, not UTF-8, or not a valid PDF
        └── IndexingError         the embedding model or the store failed on it

:func:`error_event_for` maps every exception (ours and the libraries') to an
:class:`~chains.events.ErrorEvent`. A client only ever sees its ``code``, ``message``
and ``retryable``: our own messages, never exception text or a traceback. A
``doc_error`` carries the same message.
"""

from __future__ import annotations

import logging

import chromadb.errors
import httpx
import openai
from purgatory.domain.model import OpenedState
from pydantic import ValidationError

from chains.events import ErrorEvent

_log = logging.getLogger("streaming_rag.errors")


class StreamingRagError(Exception):
    """Base of every error this service raises on purpose; the message is for users."""


class LocalModelServerError(StreamingRagError):
    """The local model server could not be started."""


class DocumentNotFoundError(StreamingRagError):
    """No indexed document has the id a request named."""


class KnowledgeBaseNotFoundError(StreamingRagError):
    """No knowledge base (Chroma collection of ours) has the name a request named."""


class KnowledgeBaseConflictError(StreamingRagError):
    """A knowledge base of that name exists already, or the default one was to be deleted."""


class SearchTimeoutError(StreamingRagError):
    """Embedding the question or searching the store took longer than allowed."""


class EmbeddingMismatchError(StreamingRagError):
    """The collection's vectors come from another embedding model than the service's."""


class StoreUnavailableError(StreamingRagError):
    """The Chroma server, or the Redis holding the write lock, does not answer."""


class DocumentError(StreamingRagError):
    """One document or file cannot be indexed; the message says why."""


class UnsupportedFileError(DocumentError):
    """The file's suffix has no loader."""


class UnreadableFileError(DocumentError):
    """The file is missing, unreadable, not UTF-8 text, or not a valid PDF."""


class IndexingError(DocumentError):
    """The embedding model or the vector store failed on a document."""


def error_event_for(exc: BaseException) -> ErrorEvent:
    """Map an exception raised while answering or indexing to a client-safe error event.

    Example:
        >>> error_event_for(openai.APITimeoutError(request=...)).code
        'llm_timeout'

    """
    if isinstance(exc, OpenedState):
        return ErrorEvent(
            code="llm_unavailable",
            message="The language model server is failing; answers are paused for a few "
            "seconds (circuit breaker open).",
            retryable=True,
        )
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return ErrorEvent(
            code="llm_timeout", message="The language model timed out.", retryable=True
        )
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return ErrorEvent(
            code="llm_unavailable",
            message="The language model server is unreachable or closed the stream.",
            retryable=True,
        )
    if isinstance(exc, openai.RateLimitError):
        return ErrorEvent(
            code="llm_rate_limited", message="The language model is rate limited.", retryable=True
        )
    if isinstance(exc, openai.APIStatusError):
        retryable = exc.status_code >= 500
        return ErrorEvent(
            code="llm_error" if retryable else "llm_rejected",
            message=f"The language model answered HTTP {exc.status_code}.",
            retryable=retryable,
        )
    if isinstance(exc, ValidationError):
        return ErrorEvent(code="invalid", message=describe_validation_error(exc), retryable=False)
    if isinstance(exc, SearchTimeoutError):
        return ErrorEvent(code="search_timeout", message=str(exc), retryable=True)
    if isinstance(exc, DocumentNotFoundError | KnowledgeBaseNotFoundError):
        return ErrorEvent(code="not_found", message=str(exc), retryable=False)
    if isinstance(exc, DocumentError):
        return ErrorEvent(code="bad_document", message=str(exc), retryable=False)
    if isinstance(exc, chromadb.errors.ChromaError):
        return ErrorEvent(
            code="store_error", message="The vector store failed the request.", retryable=True
        )
    # The client is told nothing more; the operator gets the traceback.
    _log.error("unexpected failure, sent as an internal error", exc_info=exc)
    return ErrorEvent(code="internal", message="The server failed unexpectedly.", retryable=False)


def describe_validation_error(exc: ValidationError) -> str:
    """One clause per problem, naming the field: ``content: must not be empty``."""
    problems = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"]) or "document"
        problems.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)
