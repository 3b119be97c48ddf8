"""``GET /metrics``: the service's Prometheus metrics, in the text format."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.deps import ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Counters and histograms of requests, answers and ingestion; the breaker's state."""
    services.metrics.breaker.state(await services.breaker.state())
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
