"""OpenAI-compatible routes under `/ollama/v1`: chat completions (SSE or one object) and models.

Like the native routes, completions go through `ChatService.reply`. Errors use OpenAI's nested
body, `{"error": {"message", "type", "param", "code"}}`, with the same statuses.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from hub.api.auth import Caller, ollama_caller, services_of
from hub.api.catalog import catalog_of
from hub.api.doc_shapes import OPENAI_ERRORS
from hub.api.embeddings import openai_embeddings
from hub.api.errors import ApiError, error_from_failed, exception_handlers, openai_error
from hub.api.incoming import http_message
from hub.api.openai_completions import text_completions
from hub.api.openai_shapes import (
    OpenAIChatRequest,
    SseEncoder,
    to_chat_message,
    to_format,
    to_options,
    to_think,
)
from hub.api.replies import ContentEvent, gather_reply, start_reply
from hub.api.schema_responses import STREAMS
from hub.api.streaming import Render, ReplyStream
from hub.core.models import Done, Extra, Text

EVENT_STREAM = "text/event-stream"


@post("/chat/completions", status_code=200, responses=OPENAI_ERRORS, opt={STREAMS: EVENT_STREAM})
async def chat_completions(
    request: Request[Any, Any, Any],
    data: JSONBody[OpenAIChatRequest],
    caller: NamedDependency[Caller],
) -> Response[Any]:
    """A chat completion; SSE chunks when `stream` is true, one `chat.completion` otherwise.
    Tool calls come as `tool_calls` (streamed with indexes, finish reason `tool_calls`),
    thinking as `reasoning` and `reasoning_content`."""
    model = await catalog_of(request).resolve(data.model)
    try:
        effort = data.reasoning.effort if data.reasoning is not None else None
        think = to_think(data.reasoning_effort or effort)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    msg = http_message(
        caller,
        model,
        [to_chat_message(m) for m in data.messages],
        options=to_options(data),
        passthrough={
            "format": to_format(data.response_format),
            "tools": data.tools,
            "think": think,
        },
    )
    reply = await start_reply(services_of(request).chat, msg, request)
    encoder = SseEncoder(data.model)
    if data.stream:
        include_usage = bool(data.stream_options and data.stream_options.include_usage)
        return ReplyStream(reply, _sse(encoder, include_usage), media_type=EVENT_STREAM)
    gathered = await gather_reply(request, reply)
    if gathered.failed is not None or gathered.done is None:
        assert gathered.failed is not None
        raise error_from_failed(gathered.failed)
    return Response(encoder.completion(gathered.content, gathered.extras, gathered.done.metrics))


def _sse(encoder: SseEncoder, include_usage: bool) -> Render:
    def render(events: list[ContentEvent]) -> bytes:
        out: list[bytes] = []
        for event in events:
            if isinstance(event, Text):
                if event.delta:
                    out.append(encoder.text(event.delta))
            elif isinstance(event, Extra):
                chunk = encoder.extra(event.data)
                if chunk is not None:
                    out.append(chunk)
            elif isinstance(event, Done):
                out.append(encoder.finish(event.metrics))
                if include_usage:
                    out.append(encoder.usage(event.metrics))
                out.append(encoder.DONE)
            else:
                status = error_from_failed(event).status
                out.append(encoder.error(openai_error(status, event.reason)))
                out.append(encoder.DONE)  # the stream is over, as after a finish (vLLM does so)
        return b"".join(out)

    return render


@get("/models")
async def list_models(
    request: Request[Any, Any, Any], caller: NamedDependency[Caller]
) -> dict[str, Any]:
    """Every model and alias the router serves, as OpenAI model objects."""
    catalog = catalog_of(request)
    data = []
    for listing in await catalog.listings():
        info = listing.info
        moment = info.modified_at if info is not None and info.modified_at else catalog.started
        data.append(
            {
                "id": listing.name,
                "object": "model",
                "created": int(moment.timestamp()),
                "owned_by": "library",
            }
        )
    return {"object": "list", "data": data}


def openai_router() -> Router:
    """The `/ollama/v1` OpenAI-compatible routes; a user token or a static API key is required."""
    return Router(
        path="/ollama/v1",
        route_handlers=[chat_completions, text_completions, openai_embeddings, list_models],
        # Not "user": OpenAI bodies have a `user` field, and Litestar reports a body field that
        # shares a dependency's name as a server error (a 500) when it fails validation.
        dependencies={"caller": Provide(ollama_caller)},
        exception_handlers=exception_handlers(),
        tags=["openai"],
    )
