"""`GET /metrics` in the Prometheus text format (version 0.0.4).

Gauges only, read from the running services on each scrape: nothing is counted on the hot path
for this endpoint's sake.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Response

from hub.runtime import Services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(services: Services) -> str:
    """The exposition text for the current state of `services`."""
    lines: list[str] = []

    def gauge(name: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{rendered}}} {value:g}" if rendered else f"{name} {value:g}")

    router: Any = services.router
    statuses = router.status() if hasattr(router, "status") else []
    gauge(
        "chathub_backend_up",
        "1 when the backend answers its health checks, 0 while it cools down.",
        [({"backend": s.name}, 1.0 if s.up else 0.0) for s in statuses],
    )
    gauge(
        "chathub_backend_in_flight",
        "Requests the backend is serving now.",
        [({"backend": s.name}, float(s.in_flight)) for s in statuses],
    )
    gauge(
        "chathub_backend_max_concurrency",
        "Requests the backend may serve at once.",
        [({"backend": s.name}, float(s.max_concurrency)) for s in statuses],
    )
    gauge(
        "chathub_backend_consecutive_failures",
        "Failures since the backend last answered.",
        [({"backend": s.name}, float(s.failures)) for s in statuses],
    )
    gauge(
        "chathub_queue_waiting",
        "Requests waiting for a free backend slot.",
        [({}, float(getattr(router, "queued", 0)))],
    )
    gauge(
        "chathub_replies_in_progress",
        "Replies being generated now, over every platform.",
        [({}, float(getattr(services.chat, "in_progress", 0)))],
    )
    return "\n".join(lines) + "\n"


@get("/metrics", include_in_schema=True, media_type=CONTENT_TYPE)
async def metrics(request: Request[Any, Any, Any]) -> Response[str]:
    """Prometheus metrics for backends, the queue and replies in progress."""
    return Response(render_metrics(request.app.state.services), media_type=CONTENT_TYPE)
