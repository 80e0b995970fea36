"""OpenAI's legacy text completions, `POST /ollama/v1/completions`, as Ollama serves them: the
prompt is completed like `/api/generate` (with the model's template; `suffix` for fill-in-the-
middle), through `ChatService` like every reply. `text_completion` objects, streamed as SSE.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from hub.api.auth import Caller, services_of
from hub.api.catalog import catalog_of
from hub.api.doc_shapes import EVENT_STREAM, OPENAI_ERRORS, StreamOrJson
from hub.api.errors import error_from_failed, openai_error
from hub.api.incoming import http_message
from hub.api.openai_shapes import StreamOptions, usage
from hub.api.replies import ContentEvent, gather_reply, start_reply
from hub.api.streaming import Render, ReplyStream
from hub.core.models import ChatMessage, Done, Failed, Metrics, Text
from hub.core.ports import Completion

_encode = msgspec.json.encode


class OpenAICompletionRequest(msgspec.Struct, kw_only=True):
    """`POST /v1/completions`. An omitted `stream` does not stream."""

    model: str
    prompt: str
    suffix: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    user: str | None = None
    n: int | None = None  # accepted, ignored (as Ollama does)


def _options(data: OpenAICompletionRequest) -> dict[str, Any]:
    stop = [data.stop] if isinstance(data.stop, str) else data.stop
    options = {
        "temperature": data.temperature,
        "top_p": data.top_p,
        "seed": data.seed,
        "stop": stop,
        "num_predict": data.max_tokens,
        "frequency_penalty": data.frequency_penalty,
        "presence_penalty": data.presence_penalty,
    }
    return {k: v for k, v in options.items() if v is not None}


def _finish(metrics: Metrics) -> str:
    return "length" if metrics.done_reason == "length" else "stop"


class CompletionEncoder:
    """One `text_completion` stream: one id and one `created` for every chunk."""

    DONE = b"data: [DONE]\n\n"

    def __init__(self, model: str) -> None:
        self.base: dict[str, Any] = {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_ollama",
        }

    def _choice(self, text: str, finish: str | None) -> dict[str, Any]:
        return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}

    def chunk(self, text: str, finish: str | None = None) -> bytes:
        return b"data: " + _encode({**self.base, "choices": [self._choice(text, finish)]}) + b"\n\n"

    def usage(self, metrics: Metrics) -> bytes:
        return b"data: " + _encode({**self.base, "choices": [], "usage": usage(metrics)}) + b"\n\n"

    def whole(self, text: str, metrics: Metrics) -> dict[str, Any]:
        choice = self._choice(text, _finish(metrics))
        return {**self.base, "choices": [choice], "usage": usage(metrics)}


def _sse(encoder: CompletionEncoder, include_usage: bool) -> Render:
    def render(events: list[ContentEvent]) -> bytes:
        out: list[bytes] = []
        for event in events:
            if isinstance(event, Text):
                if event.delta:
                    out.append(encoder.chunk(event.delta))
            elif isinstance(event, Done):
                out.append(encoder.chunk("", _finish(event.metrics)))
                if include_usage:
                    out.append(encoder.usage(event.metrics))
                out.append(encoder.DONE)
            elif isinstance(event, Failed):  # thinking and tool calls (Extra) are left out
                status = error_from_failed(event).status
                out.append(b"data: " + _encode(openai_error(status, event.reason)) + b"\n\n")
        return b"".join(out)

    return render


@post(
    "/completions",
    status_code=200,
    responses={
        200: ResponseSpec(
            None,
            description="`text_completion` chunks as server-sent events (`stream: true`), or "
            "one `text_completion` object.",
            media_type=EVENT_STREAM,
        ),
        **OPENAI_ERRORS,
    },
    operation_class=StreamOrJson,
)
async def text_completions(
    request: Request[Any, Any, Any],
    data: JSONBody[OpenAICompletionRequest],
    caller: NamedDependency[Caller],
) -> Response[Any]:
    """Complete `prompt` (thinking and tool calls have no place in this older shape)."""
    model = await catalog_of(request).resolve(data.model)
    msg = http_message(
        caller,
        model,
        [ChatMessage("user", data.prompt)],
        options=_options(data),
        passthrough={"completion": Completion(suffix=data.suffix)},
        route="generate",
    )
    reply = await start_reply(services_of(request).chat, msg, request)
    encoder = CompletionEncoder(data.model)
    if data.stream:
        include_usage = bool(data.stream_options and data.stream_options.include_usage)
        return ReplyStream(reply, _sse(encoder, include_usage), media_type=EVENT_STREAM)
    gathered = await gather_reply(request, reply)
    if gathered.failed is not None or gathered.done is None:
        assert gathered.failed is not None
        raise error_from_failed(gathered.failed)
    return Response(encoder.whole(gathered.content, gathered.done.metrics))
