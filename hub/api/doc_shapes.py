"""Response shapes the OpenAPI schema (`/schema`) documents for the Ollama and OpenAI routes:
error bodies per status and the streamed media types, so schema-driven tests can hold the
routes to what they answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIResponse, Operation

NDJSON = "application/x-ndjson"
EVENT_STREAM = "text/event-stream"


class OllamaError(msgspec.Struct):
    """Ollama's error body."""

    error: str


class OpenAIErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: Any = None
    code: Any = None


class OpenAIError(msgspec.Struct):
    """OpenAI's error body."""

    error: OpenAIErrorDetail


class Progress(msgspec.Struct, omit_defaults=True):
    """One progress line of a pull, push or create (`{"status": "success"}` last)."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


_WHY = {
    400: "The request is malformed or names no model.",
    401: "No credential, or one the hub does not accept.",
    403: "The caller may not do this (not an administrator, or a pending account).",
    404: "No such model or backend.",
    429: "A rate limit, the token budget or the reply slots refused it (see Retry-After).",
    501: "Only an Ollama backend can do this.",
    502: "The model server failed or could not be reached.",
    503: "Every model server is busy, or the limiter is unavailable.",
}


def errors(container: type[msgspec.Struct], *statuses: int) -> dict[int, ResponseSpec]:
    """Error responses in one family's body shape."""
    return {
        s: ResponseSpec(container, description=_WHY[s], generate_examples=False) for s in statuses
    }


ERRORS = errors(OllamaError, 400, 401, 403, 404, 501, 502)
EMBED_ERRORS = errors(OllamaError, 400, 401, 403, 404, 429, 502, 503)
OPENAI_ERRORS = errors(OpenAIError, 400, 401, 403, 404, 429, 502, 503)


@dataclass
class StreamOrJson(Operation):
    """An operation whose 200 streams (NDJSON or SSE, as documented) or is one JSON object,
    as the request's `stream` says: the JSON media type is documented beside the stream's."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if not isinstance(ok, OpenAPIResponse) or not ok.content:
            return
        for streamed in (NDJSON, EVENT_STREAM):
            if streamed in ok.content:
                ok.content.setdefault("application/json", ok.content[streamed])
