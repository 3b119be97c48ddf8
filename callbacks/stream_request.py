"""What a client sends to the typed event stream: a RAG question plus stream options."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from chains.rag import DEFAULT_K, MAX_K, MAX_QUESTION_CHARS, RagInput


class StreamRequest(RagInput):
    """A RAG question plus stream options; ``query``/``n_results`` alias ``question``/``k``.

    The aliases are the names notebook-style clients (and Chroma's own API) use.
    """

    question: str = Field(
        ...,
        description="The question to answer.",
        max_length=MAX_QUESTION_CHARS,
        validation_alias=AliasChoices("question", "query"),
    )
    k: int = Field(
        DEFAULT_K,
        ge=1,
        le=MAX_K,
        description="How many sources to retrieve.",
        validation_alias=AliasChoices("k", "n_results"),
    )
    stream_sources: bool = Field(True, description="Send the source events.")
    progressive: bool = Field(
        False,
        description="Start from the best source at once and enrich the context in waves "
        "(context_update, and revise when a wave changes it materially).",
    )
