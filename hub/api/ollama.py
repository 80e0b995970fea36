"""Ollama-compatible routes under `/ollama`, so Ollama clients and Open WebUI can use the hub.

Chat and generate go through `ChatService.reply` like every bot message, so routing, limits,
prompt commands and usage accounting apply. Streams are NDJSON, one object per line, flushed per
chunk, ending with a `done:true` object (or an `{"error":…}` line if the reply fails midway).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, post, route
from litestar.di import NamedDependency, Provide
from litestar.enums import HttpMethod
from litestar.params import JSONBody

from hub.api.auth import Caller, ollama_caller, services_of
from hub.api.catalog import catalog_of
from hub.api.embeddings import ollama_embed, ollama_embeddings
from hub.api.errors import ApiError, error_from_failed, exception_handlers
from hub.api.fleet import fleet_error, fleet_of, require_admin
from hub.api.incoming import http_message
from hub.api.ollama_manage import management_handlers
from hub.api.ollama_shapes import (
    ChunkEncoder,
    OllamaChatRequest,
    OllamaGenerateRequest,
    OllamaMessage,
    OllamaShowRequest,
    merge_extra,
    tag_entry,
)
from hub.api.replies import ContentEvent, gather_reply, start_reply
from hub.api.schema_responses import STREAMS
from hub.api.streaming import Render, ReplyStream
from hub.core.backends.ollama_admin import unloads
from hub.core.models import ChatMessage, Done, Extra, IncomingMessage, Text
from hub.core.ports import BackendError, Completion

# What /api/version says when no Ollama backend tells its own (clients such as Open WebUI
# check it is >= 0.1.16).
OLLAMA_API_VERSION = "0.6.8"
NDJSON = "application/x-ndjson"
_GET_HEAD = [HttpMethod.GET, HttpMethod.HEAD]


@route("/", http_method=_GET_HEAD, media_type="text/plain", include_in_schema=True)
async def ollama_root() -> str:
    """Liveness text that Ollama clients probe."""
    return "Ollama is running"


@route("/api/version", http_method=_GET_HEAD)
async def ollama_version(request: Request[Any, Any, Any]) -> dict[str, str]:
    """`HUB_OLLAMA_VERSION`, else the lowest version among the Ollama backends (as Open WebUI
    reports for several), else the API level the hub implements. No sign-in needed, but a
    wrong key is refused (Open WebUI's Verify Connection asks only this)."""
    services = services_of(request)
    configured = services.settings.ollama_version
    if configured:
        return {"version": configured}
    fleet = fleet_of(request, required=False)
    version = await fleet.version() if fleet is not None else None
    return {"version": version or OLLAMA_API_VERSION}


@route("/api/tags", http_method=_GET_HEAD)
async def ollama_tags(
    request: Request[Any, Any, Any], caller: NamedDependency[Caller]
) -> dict[str, Any]:
    """Every model and alias the router serves, with all upstream fields."""
    catalog = catalog_of(request)
    listings = await catalog.listings()
    return {"models": [tag_entry(m, catalog.started) for m in listings]}


@route("/api/ps", http_method=_GET_HEAD)
async def ollama_ps(
    request: Request[Any, Any, Any], caller: NamedDependency[Caller]
) -> dict[str, Any]:
    """Models loaded on the Ollama backends now, named as `/api/tags` names them.

    Items keep every upstream field (`expires_at` RFC 3339, `size_vram`, `context_length`,
    `details`). A router that cannot tell (a test double) gives an empty list.
    """
    router = services_of(request).router
    running = getattr(router, "running", None)
    models: list[Any] = list(await running()) if running is not None else []
    return {"models": models}


@post("/api/show", status_code=200)
async def ollama_show(
    request: Request[Any, Any, Any],
    data: JSONBody[OllamaShowRequest],
    caller: NamedDependency[Caller],
) -> dict[str, Any]:
    """Model details as the serving backend reports them."""
    name = await catalog_of(request).resolve(data.model or data.name)
    shown = await services_of(request).router.show(name)
    if shown is None:
        raise ApiError(404, f"model '{data.model or data.name}' not found")
    return dict(shown)


def _to_chat_message(message: OllamaMessage) -> ChatMessage:
    extra: dict[str, Any] = {}
    if message.thinking:
        extra["thinking"] = message.thinking
    if message.tool_calls:
        extra["tool_calls"] = message.tool_calls
    if message.tool_name:
        extra["tool_name"] = message.tool_name
    return ChatMessage(
        role=message.role,
        content=message.content or "",
        images=tuple(message.images or ()),
        extra=extra,
    )


@post("/api/chat", status_code=200, opt={STREAMS: NDJSON})
async def ollama_chat(
    request: Request[Any, Any, Any],
    data: JSONBody[OllamaChatRequest],
    caller: NamedDependency[Caller],
) -> Response[Any]:
    """Chat with the whole `messages` history; NDJSON stream unless `stream` is false. No
    messages loads the model (keep_alive 0: unloads it) wherever it runs."""
    model = await catalog_of(request).resolve(data.model)
    encoder = ChunkEncoder(data.model, "chat")
    if not data.messages:
        return await _load(request, caller, model, data.keep_alive, encoder)
    msg = http_message(
        caller,
        model,
        [_to_chat_message(m) for m in data.messages],
        options=data.options,
        passthrough={
            "format": data.format,
            "keep_alive": data.keep_alive,
            "think": data.think,
            "tools": data.tools,
        },
    )
    return await _respond(request, msg, encoder, stream=data.stream)


@post("/api/generate", status_code=200, opt={STREAMS: NDJSON})
async def ollama_generate(
    request: Request[Any, Any, Any],
    data: JSONBody[OllamaGenerateRequest],
    caller: NamedDependency[Caller],
) -> Response[Any]:
    """Complete `prompt` (with `system`, `suffix`, `template`, `raw`, `context` as Ollama takes
    them); NDJSON stream unless `stream` is false. Ollama backends get `/api/generate` itself;
    OpenAI-compatible ones answer a plain prompt as a chat and refuse the Ollama-only fields."""
    model = await catalog_of(request).resolve(data.model)
    encoder = ChunkEncoder(data.model, "generate")
    if not data.prompt and not data.images and data.suffix is None:
        return await _load(request, caller, model, data.keep_alive, encoder)
    history = [ChatMessage("system", data.system)] if data.system else []
    history.append(ChatMessage("user", data.prompt, images=tuple(data.images or ())))
    completion = Completion(
        suffix=data.suffix,
        template=data.template,
        raw=data.raw,
        context=tuple(data.context) if data.context is not None else None,
    )
    msg = http_message(
        caller,
        model,
        history,
        options=data.options,
        passthrough={
            "format": data.format,
            "keep_alive": data.keep_alive,
            "think": data.think,
            "completion": completion,
        },
        route="generate",
    )
    return await _respond(request, msg, encoder, stream=data.stream)


async def _load(
    request: Request[Any, Any, Any],
    caller: Caller,
    model: str,
    keep_alive: str | int | float | None,
    encoder: ChunkEncoder,
) -> Response[Any]:
    """An empty request: load `model` on every Ollama backend serving it, or unload it there
    (which only an administrator may: it affects everyone using the model)."""
    if unloads(keep_alive):
        require_admin(caller, "unload models")
    try:
        reason = await fleet_of(request).load(model, keep_alive)
    except BackendError as exc:
        raise fleet_error(exc) from None
    return Response(encoder.load(reason))


async def _respond(
    request: Request[Any, Any, Any], msg: IncomingMessage, encoder: ChunkEncoder, *, stream: bool
) -> Response[Any]:
    reply = await start_reply(services_of(request).chat, msg, request)
    if stream:
        return ReplyStream(reply, _ndjson(encoder), media_type=NDJSON)
    gathered = await gather_reply(request, reply)
    if gathered.failed is not None or gathered.done is None:
        assert gathered.failed is not None
        raise error_from_failed(gathered.failed)
    extra: dict[str, Any] = {}
    for data in gathered.extras:
        merge_extra(extra, data)
    return Response(encoder.final(gathered.done, gathered.content, extra))


def _ndjson(encoder: ChunkEncoder) -> Render:
    def render(events: list[ContentEvent]) -> bytes:
        out: list[bytes] = []
        for event in events:
            if isinstance(event, Text):
                if event.delta:
                    out.append(encoder.text(event.delta))
            elif isinstance(event, Extra):
                out.append(encoder.extra(event.data))
            elif isinstance(event, Done):
                out.append(encoder.done(event))
            else:
                out.append(encoder.error(event.reason))
        return b"".join(out)

    return render


def ollama_router() -> Router:
    """The `/ollama` native routes; a user token or a static API key is required."""
    return Router(
        path="/ollama",
        route_handlers=[
            ollama_root,
            ollama_version,
            ollama_tags,
            ollama_ps,
            ollama_show,
            ollama_chat,
            ollama_generate,
            ollama_embed,
            ollama_embeddings,
            *management_handlers(),
        ],
        dependencies={"caller": Provide(ollama_caller)},
        exception_handlers=exception_handlers(),
        tags=["ollama"],
    )
