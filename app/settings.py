"""Service settings, read once from the environment (prefix ``RAG_``) or ``.env``.

Only :func:`app.server.create_app` and the CLI construct :class:`Settings`; everything
below them receives plain arguments. The standard ``OPENAI_API_KEY`` and
``OPENAI_BASE_URL`` variables are honoured as fallbacks for the LLM settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

import limits
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chains.embeddings import DEFAULT_CACHE
from chains.grounding import MEASURED_SUPPORT_SCORE
from chains.isolated_parsing import ParseLimits
from chains.title_boost import MEASURED_TITLE_WEIGHT

LOCAL_MODEL_ALIAS = "smollm2"
"""The name the local model server announces for the bundled SmolLM2 model."""

OPENAI_DEFAULT_MODEL = "gpt-4o-mini"

LOCAL_EMBEDDING_NAME = "all-MiniLM-L6-v2"
"""The bundled embedding model, as the collection records it."""

MEASURED_MIN_SCORE = 0.30
"""Where the bundled embedding model separates answerable from absent questions, measured
on two corpora with chunks embedded with their headers and the title boost (bench
section 22; section 11 and ``python -m bench.min_score`` for the second): on the Python
documentation no answerable question scored under 0.30 and 8 of 10 absent ones were
declined from 0.30 up; on the sample knowledge base 0.30 declined 8 of 12 questions on
its topics that none of its documents answers and widened no answerable question, where
0.35 widened one. (Before headers the same 8 of 12 took 0.35: the blended score runs
about 0.05 lower.)"""


LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
"""The ``Host`` values ``/mcp`` accepts by default: this machine, on any port."""


class Settings(BaseSettings):
    """Everything the service can be configured with.

    Example:
        >>> Settings(top_k=6, chroma_path=Path("/tmp/chroma")).top_k
        6

    """

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    chroma_path: Path = Path("./data/chroma")
    chroma_host: str | None = None
    chroma_port: int | None = Field(None, ge=1, le=65535)
    collection: str = Field("streaming_rag", min_length=3, max_length=512)

    embeddings: Literal["local", "openai"] = "local"
    embeddings_backend: Literal["onnx", "torch"] = Field(
        "onnx", description="what runs the local model; both give the same vectors"
    )
    embeddings_threads: int | None = Field(
        None, ge=1, description="the local model's threads; unset: the backend's own choice"
    )
    embeddings_cache: Path = Field(
        DEFAULT_CACHE, description="where the local model's ONNX export is kept (built once)"
    )
    openai_embeddings_model: str = Field(
        "text-embedding-3-small",
        validation_alias=AliasChoices(
            "RAG_EMBEDDINGS_MODEL", "RAG_OPENAI_EMBEDDINGS_MODEL", "openai_embeddings_model"
        ),
    )
    embeddings_base_url: str | None = Field(
        None,
        description="an OpenAI-compatible embeddings endpoint; unset means OpenAI's",
        validation_alias=AliasChoices(
            "RAG_EMBEDDINGS_BASE_URL", "OPENAI_BASE_URL", "embeddings_base_url"
        ),
    )
    embeddings_api_key: SecretStr | None = Field(
        None, description="its key; unset means the LLM's key"
    )

    llm_base_url: str | None = Field(
        None, validation_alias=AliasChoices("RAG_LLM_BASE_URL", "OPENAI_BASE_URL", "llm_base_url")
    )
    llm_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("RAG_LLM_API_KEY", "OPENAI_API_KEY", "llm_api_key")
    )
    llm_model: str | None = None
    llm_temperature: float = Field(0.1, ge=0.0, le=2.0)
    llm_max_tokens: int = Field(256, ge=1, le=8192)
    llm_timeout_s: float = Field(
        30.0, gt=0, description="connect and per-read timeout of a model request (a hang ends)"
    )
    llm_max_retries: int = Field(
        2, ge=0, le=10, description="retries with backoff, only before the answer's first byte"
    )
    breaker_threshold: int = Field(
        5, ge=1, description="consecutive model failures that open the circuit breaker"
    )
    breaker_reset_s: float = Field(
        15.0, gt=0, description="how long the breaker stays open before one trial request"
    )
    embeddings_timeout_s: float = Field(
        30.0, gt=0, description="bound of one search's embedding call and vector query"
    )

    local_llm_port: int = Field(8081, ge=1, le=65535)
    local_llm_threads: int = Field(2, ge=1)
    local_llm_ctx: int = Field(2048, ge=256, description="context window per slot, in tokens")
    local_llm_slots: int = Field(4, ge=1, le=32)
    local_llm_quant: Literal["Q4_0", "Q8_0", "Q4_1"] = "Q4_0"
    local_llm_model_path: Path | None = None

    top_k: int = Field(4, ge=1, le=20)
    min_score: float = Field(
        MEASURED_MIN_SCORE,
        ge=0.0,
        le=1.0,
        description="best source score under which the search widens; 0 never widens",
    )
    progressive: bool = Field(False, description="progressive context unless a request says")
    progressive_first_k: int = Field(
        1, ge=1, le=20, description="progressive: the draft is written from this many sources"
    )
    follow_up_search: Literal["joined", "joined_rewrite", "rewrite"] = Field(
        "joined",
        description="how a follow-up is searched: joined to the earlier question (measured "
        "best, bench section 15); the same plus the model's checked rewrite as a second "
        "wave; or as written, then the rewrite (before 2026-12-05)",
    )
    follow_up_draft: Literal["at_once", "after_rewrite"] = Field(
        "after_rewrite",
        description="a rewritten follow-up's draft: once its standalone question's search "
        "has chosen the sources (measured faster, bench section 15), or at once on the raw "
        "question's sources, revised when the standalone wave changes them",
    )
    grounding: bool = Field(
        True, description="check each answer sentence against its sources as it is written"
    )
    grounding_min_score: float = Field(
        MEASURED_SUPPORT_SCORE,
        ge=0.0,
        le=1.0,
        description="cosine similarity from which a source supports a sentence",
    )
    queue_maxsize: int = Field(256, ge=1)
    chunk_size: int = Field(800, ge=50)
    chunk_overlap: int = Field(100, ge=0)
    chunk_context: bool = Field(
        True,
        description="embed and keyword-index each chunk with its document's title, the "
        "headings above it and the document's summary line (the chunk shows as it is)",
    )
    title_weight: float = Field(
        MEASURED_TITLE_WEIGHT,
        ge=0.0,
        le=1.0,
        description="share of a hit's score that is its document's title and summary "
        "similarity (needs RAG_CHUNK_CONTEXT); 0: the chunk's own similarity alone",
    )
    sources_per_document: int = Field(
        1,
        ge=0,
        le=20,
        description="at most this many of an answer's sources from one document while "
        "another document matches, neighbouring chunks merged into one; 0: no cap",
    )

    api_key: SecretStr | None = Field(
        None, description="an admin key (every knowledge base, and the keys), beside the store's"
    )
    protect_reads: bool = Field(
        False, description="reads need a key that grants read on the knowledge base too"
    )
    keys_path: Path | None = Field(
        None, description="the key file of the embedded default; unset: <data dir>/keys.json"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS, comma-separated"
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="larger request bodies get 413 unread"
    )
    max_upload_files: int = Field(
        100, ge=1, le=1000, description="files one upload may hold (the parser stops at 1,000)"
    )
    parse_timeout_s: float = Field(
        30.0, gt=0, description="wall-clock seconds one file's parse may take"
    )
    parse_cpu_s: int = Field(20, ge=1, description="CPU seconds one file's parse may use")
    parse_memory_mb: int = Field(
        512, ge=32, description="memory one file's parse may take beyond the parser's own"
    )
    rate_limit: str | None = Field(
        None, description="per-client limit on streaming and write routes, e.g. 30/minute"
    )
    shutdown_grace_s: float = Field(
        10.0, ge=0, description="on SIGTERM, how long streams in flight may still finish"
    )
    resume_grace_s: float = Field(
        5.0, ge=0, description="how long an answer outlives its client's disconnect; 0: none"
    )
    resume_ttl_s: float = Field(
        120.0, gt=0, description="how long a finished stream's events stay resumable"
    )
    resume_buffer_events: int = Field(
        10_000, ge=16, description="events one stream's resume buffer holds at most"
    )
    redis_url: str | None = Field(
        None, description="a Redis server holding resume buffers, shared by every worker"
    )
    index_sample_docs: bool = True
    mcp_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(LOOPBACK_HOSTS),
        description="Host headers /mcp accepts (DNS-rebinding protection), comma-separated; "
        "* for any",
    )
    mcp_write_tools: bool = Field(
        False, description="offer the MCP write tools (index_text, delete_document)"
    )
    mcp_key: SecretStr | None = Field(
        None, description="the key `streaming-rag mcp` (stdio) acts as; unset: no key"
    )

    @field_validator("cors_origins", "mcp_allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("rate_limit")
    @classmethod
    def _parse_rate_limit(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            limits.parse(value)
        except ValueError as exc:
            raise ValueError(
                f"RAG_RATE_LIMIT {value!r} is not a rate like 30/minute or 5/second"
            ) from exc
        return value.strip()

    @field_validator("llm_base_url", "embeddings_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    @model_validator(mode="after")
    def _check_cross_field_rules(self) -> Self:
        if (self.chroma_host is None) != (self.chroma_port is None):
            raise ValueError("RAG_CHROMA_HOST and RAG_CHROMA_PORT must be set together")
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"RAG_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than "
                f"RAG_CHUNK_SIZE ({self.chunk_size})"
            )
        if self.local_llm_model_path is not None and not self.local_llm_model_path.is_file():
            raise ValueError(f"RAG_LOCAL_LLM_MODEL_PATH is not a file: {self.local_llm_model_path}")
        if self.embeddings == "openai" and not (self.embeddings_key or self.embeddings_base_url):
            raise ValueError(
                "RAG_EMBEDDINGS=openai needs OPENAI_API_KEY (or RAG_EMBEDDINGS_API_KEY), "
                "or RAG_EMBEDDINGS_BASE_URL for a server without keys"
            )
        if self.llm_model is None:
            self.llm_model = LOCAL_MODEL_ALIAS if self.uses_local_llm else OPENAI_DEFAULT_MODEL
        return self

    @property
    def uses_local_llm(self) -> bool:
        """True when no LLM endpoint or key is configured, so we start our own server."""
        return self.llm_base_url is None and self.llm_api_key is None

    @property
    def embeddings_key(self) -> str | None:
        """The embeddings endpoint's key: its own, else the LLM's."""
        key = self.embeddings_api_key or self.llm_api_key
        return key.get_secret_value() if key else None

    @property
    def embedding_model_name(self) -> str:
        """The model the collection records, so another one is refused."""
        return self.openai_embeddings_model if self.embeddings == "openai" else LOCAL_EMBEDDING_NAME

    @property
    def data_dir(self) -> Path:
        """Where the service keeps its files: the embedded store's parent (``./data``)."""
        return self.chroma_path.parent

    @property
    def key_file(self) -> Path:
        """Where keys live without Redis: ``RAG_KEYS_PATH``, else ``keys.json`` in the data dir."""
        return self.keys_path or self.data_dir / "keys.json"

    @property
    def parse_limits(self) -> ParseLimits:
        """What one file's parse may use, in the process that parses it."""
        return ParseLimits(
            timeout_s=self.parse_timeout_s, cpu_s=self.parse_cpu_s, memory_mb=self.parse_memory_mb
        )

    @property
    def local_llm_url(self) -> str:
        """The OpenAI-compatible base URL of the local model server."""
        return f"http://127.0.0.1:{self.local_llm_port}/v1"

    @property
    def effective_llm_base_url(self) -> str | None:
        """Where ``ChatOpenAI`` sends requests: the local server unless one is configured."""
        return self.local_llm_url if self.uses_local_llm else self.llm_base_url
