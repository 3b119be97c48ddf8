"""Prometheus metrics and one JSON log line per request, tied together by the request id.

:class:`ServiceMetrics` holds the app's own ``prometheus_client`` registry (one per app,
so several apps in one process do not collide), served by ``GET /metrics``.
:class:`RequestLogMiddleware` counts every request by route template, method and status
and, when the response is over (for a stream, when its last event is sent), logs one
line on ``streaming_rag.access`` with the request id (``X-Request-ID``, set by
asgi-correlation-id) and, for an answer, its timings. The answer and ingestion streams
pass through :meth:`ServiceMetrics.observe_answer` and :meth:`~ServiceMetrics.observe_ingest`,
which feed the histograms and counters and put the timings on the request's log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from asgi_correlation_id import correlation_id
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.streams.drain import ShutdownGate
from callbacks import RagEventStream
from chains.events import DoneEvent, ErrorEvent, RagEvent
from chains.ingest_events import IngestEvent

access_log = logging.getLogger("streaming_rag.access")

_log_fields: ContextVar[dict[str, Any] | None] = ContextVar("log_fields", default=None)
"""Fields a stream adds to its request's log line (the timings of an answer)."""


def _add_to_log(**fields: Any) -> None:
    """Put ``fields`` on the current request's log line (nothing outside a request)."""
    line = _log_fields.get()
    if line is not None:
        line.update(fields)


class ServiceMetrics:
    """The service's Prometheus metrics, in a registry of its own.

    Example:
        >>> metrics = ServiceMetrics()
        >>> async for event in metrics.observe_answer(stream.astream(request)):
        ...     yield event
        >>> metrics.render()  # the text format GET /metrics serves

    """

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "rag_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.active_streams = Gauge(
            "rag_active_streams", "Answer streams in flight.", registry=registry
        )
        self.ttfs = Histogram(
            "rag_time_to_first_source_seconds",
            "Time from the request to the first source event.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.ttft = Histogram(
            "rag_time_to_first_token_seconds",
            "Time from the request to the first answer token.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
            registry=registry,
        )
        self.total = Histogram(
            "rag_answer_duration_seconds",
            "Time from the request to the done event.",
            buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
            registry=registry,
        )
        self.tokens = Counter("rag_tokens_streamed", "Answer tokens sent.", registry=registry)
        self.ingested = Counter(
            "rag_ingest_documents",
            "Documents through ingestion by outcome (ready, failed).",
            ["outcome"],
            registry=registry,
        )
        self.chunks = Counter(
            "rag_ingest_chunks", "Chunks written to the store.", registry=registry
        )
        self.llm_errors = Counter(
            "rag_llm_errors",
            "Answers that ended with a language-model error, by error code.",
            ["code"],
            registry=registry,
        )
        self.breaker = Enum(
            "rag_llm_breaker_state",
            "The circuit breaker in front of the language model.",
            states=["closed", "half-opened", "opened"],
            registry=registry,
        )

    def render(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)

    async def observe_answer(self, events: AsyncIterator[RagEvent]) -> AsyncIterator[RagEvent]:
        """Pass an answer's events through, counting the stream and its outcome."""
        self.active_streams.inc()
        try:
            async for event in events:
                if isinstance(event, DoneEvent):
                    self._answered(event)
                elif isinstance(event, ErrorEvent):
                    if event.code.startswith("llm_"):
                        self.llm_errors.labels(event.code).inc()
                    _add_to_log(outcome="error", error_code=event.code)
                yield event
        finally:
            self.active_streams.dec()

    def _answered(self, done: DoneEvent) -> None:
        m = done.metrics
        for histogram, ms in (
            (self.ttfs, m.ttfs_ms),
            (self.ttft, m.ttft_ms),
            (self.total, m.total_ms),
        ):
            if ms is not None:
                histogram.observe(ms / 1000)
        self.tokens.inc(m.token_count)
        _add_to_log(
            outcome="done",
            ttfs_ms=m.ttfs_ms,
            ttft_ms=m.ttft_ms,
            total_ms=m.total_ms,
            token_count=m.token_count,
        )

    async def observe_ingest(
        self, events: AsyncIterator[IngestEvent]
    ) -> AsyncIterator[IngestEvent]:
        """Pass ingestion events through, counting documents by outcome and chunks."""
        async for event in events:
            self._ingest_event(event)
            yield event

    def _ingest_event(self, event: IngestEvent) -> None:
        if event.type == "doc_stage" and event.stage == "ready":
            self.ingested.labels("ready").inc()
            self.chunks.inc(event.num_chunks_indexed or 0)
        elif event.type == "doc_error":
            self.ingested.labels("failed").inc()
        elif event.type == "pipeline_done":
            _add_to_log(indexed=event.indexed, failed=event.failed)


class ObservedEventStream(RagEventStream):
    """The typed event stream, its answers counted in ``metrics``: both doors observed.

    ``/rag/sse`` iterates it and LangServe serves it at ``/rag/events``, so every answer
    is counted once, whichever door it left by.
    """

    def __init__(
        self, *args: Any, metrics: ServiceMetrics, shutdown: ShutdownGate, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics
        self.shutdown = shutdown

    async def astream(
        self, input: Any, config: Any = None, **kwargs: Any
    ) -> AsyncIterator[RagEvent]:
        """:meth:`RagEventStream.astream`, observed, and drained on shutdown."""
        drained = self.shutdown.guard(super().astream(input, config, **kwargs))
        async for event in self.metrics.observe_answer(drained):
            yield event


class RequestLogMiddleware:
    """ASGI middleware: count each request in ``metrics`` and log one JSON line for it.

    Example:
        >>> app.add_middleware(RequestLogMiddleware, metrics=ServiceMetrics())

    """

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request; count and log it once its response has ended."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before answering
        fields: dict[str, Any] = {}
        token = _log_fields.set(fields)

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            _log_fields.reset(token)
            route = _route_template(scope)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "request_id": correlation_id.get(),
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": scope["client"][0] if scope.get("client") else None,
                    "key_id": getattr(scope.get("user"), "key_id", None),
                    **fields,
                },
            )


def _route_template(scope: Scope) -> str:
    """The matched route's path template (``/rag/sse``), not the raw path: few labels."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if str(scope.get("path", "")).startswith("/static/"):
        return "/static"
    return "unmatched"


def json_log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config`` dict: uvicorn's and our access lines as JSON on stderr.

    uvicorn's own access log is turned off where this is used: ours has the request id
    and the timings.
    """
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {"stderr": handler},
        "loggers": {
            name: {"handlers": ["stderr"], "level": level, "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "streaming_rag")
        },
    }
