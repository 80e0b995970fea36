"""Operations routes: `/health` (process alive), `/ready` (dependencies), `/metrics`."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Response

from hub.api.metrics import metrics
from hub.api.schema_responses import SAME_BODY_WHEN_DOWN
from hub.readiness import is_ready, readiness
from hub.runtime import Services


@get("/health", sync_to_thread=False, include_in_schema=True)
def health() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}


@get("/ready", opt={SAME_BODY_WHEN_DOWN: True})
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """200 when store, limiter and at least one backend answer; 503 naming what is down, or
    `"status": "stopping"` once shutdown has begun."""
    services: Services = request.app.state.services
    if services.stopping:  # shutting down: take this instance out of rotation at once
        return Response({"status": "stopping", "checks": {}}, status_code=503)
    results = await readiness(services)
    ok = is_ready(results)
    body = {
        "status": "ready" if ok else "not ready",
        "checks": {r.name: {"ok": r.ok, "detail": r.detail} for r in results},
    }
    return Response(body, status_code=200 if ok else 503)


def ops_routes() -> list[Any]:
    return [health, ready, metrics]
