"""OpenAI-compatible backend (vLLM, llama.cpp server, LM Studio, OpenAI…): SSE chat completions.

The URL is the API base exactly as the `openai` client's `base_url` takes it, version prefix
included: `http://gpu:8000/v1`, `http://127.0.0.1:8080/v1`, `https://api.openai.com/v1`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hub.core.backends.base import HttpBackend, decode_object
from hub.core.backends.openai_wire import ToolCallAssembler, chat_body, sse_data
from hub.core.backends.overflow import overflow_in
from hub.core.models import Metrics
from hub.core.ports import (
    BackendChunk,
    BackendError,
    ChatRequest,
    Delta,
    Embeddings,
    EmbedRequest,
    Final,
    ModelChange,
    ModelInfo,
)

log = logging.getLogger(__name__)

# Where servers report a model's context window in their model lists: vLLM (`max_model_len`),
# OpenRouter and Groq (`context_length`, `context_window`), LM Studio's native lists. llama.cpp's
# `meta.n_ctx_train` is the length the model was trained with, not the server's window: unused.
_CONTEXT_KEYS = ("max_model_len", "context_length", "context_window", "loaded_context_length")
_LMSTUDIO_MAX = "max_context_length"  # what the model supports, when no loaded size is given
_V1 = "/v1"


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _context_of(item: Mapping[str, Any]) -> int | None:
    """The window a model-list item states, if any."""
    for key in _CONTEXT_KEYS:
        if (value := _positive(item.get(key))) is not None:
            return value
    for instance in item.get("loaded_instances") or ():  # LM Studio /api/v1/models
        config = instance.get("config") if isinstance(instance, Mapping) else None
        if isinstance(config, Mapping) and (value := _positive(config.get("context_length"))):
            return value
    return _positive(item.get(_LMSTUDIO_MAX))


class _Reply:
    """State of one streamed completion: timing, finish reason, usage, tool-call fragments."""

    def __init__(self) -> None:
        self.start = time.perf_counter_ns()
        self.first = 0
        self.finish: str | None = None
        self.events = 0
        self.usage: Mapping[str, Any] = {}
        self.tools = ToolCallAssembler()

    def feed(self, chunk: Mapping[str, Any]) -> Delta | None:
        if isinstance(usage := chunk.get("usage"), Mapping):
            self.usage = usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            if choice.get("finish_reason"):
                self.finish = str(choice["finish_reason"])
            delta = choice.get("delta")
            if isinstance(delta, Mapping):
                return self._delta(delta)
        return None

    def _delta(self, delta: Mapping[str, Any]) -> Delta | None:
        text = delta.get("content") or ""
        extra: dict[str, Any] = {}
        if thinking := delta.get("reasoning") or delta.get("reasoning_content"):
            extra["thinking"] = thinking
        self.tools.add(delta.get("tool_calls"))
        if delta.get("tool_calls") and not self.first:
            self.first = time.perf_counter_ns()
        if not text and not extra:
            return None
        if not self.first:
            self.first = time.perf_counter_ns()
        return Delta(str(text), extra)

    def metrics(self) -> Metrics:
        """Token counts from the usage chunk (0 when the server sent none); durations measured
        here, so tokens per second work like Ollama's."""
        end = time.perf_counter_ns()
        first = self.first or end

        def count(key: str) -> int:
            value = self.usage.get(key)
            return value if isinstance(value, int) else 0

        return Metrics(
            prompt_tokens=count("prompt_tokens"),
            completion_tokens=count("completion_tokens"),
            total_duration=end - self.start,
            prompt_eval_duration=first - self.start,
            eval_duration=end - first,
            done_reason="length" if self.finish == "length" else "stop",
        )


class OpenAIBackend(HttpBackend):
    """Any server with OpenAI's `/chat/completions` and `/models`; `api_key` as Bearer.

    Context windows come from the model list when it states them (vLLM), else from llama.cpp's
    `/props` or LM Studio's native model lists at the server root; whichever answers is
    remembered, so other servers are not asked again.
    """

    kind = "openai"
    label = "The OpenAI-compatible server"

    def __init__(self, name: str, url: str, **kwargs: Any) -> None:
        super().__init__(name, url, **kwargs)
        base = self._base
        self._root = base[: -len(_V1)] if base.endswith(_V1) else base
        self._window_source: str | None = None  # "" once no source answered
        self._listing: list[Mapping[str, Any]] | None = None  # the last /models answer

    async def chat(self, request: ChatRequest) -> AsyncIterator[BackendChunk]:
        """Stream `/chat/completions`: `Delta`s, then whole tool calls, then one `Final`.

        A completion is answered as a chat; one that needs `/api/generate`'s own fields (raw,
        suffix, template, context) is refused with kind "unsupported", so the router can try
        an Ollama backend instead. A stream that ends without a finish reason (llama-cpp-python
        ends the reply it is streaming that way when another request arrives) raises kind
        "incomplete": it is not a finished reply.
        """
        if request.completion is not None and (fields := request.completion.native_only):
            raise BackendError(
                f"'{self.name}' is an OpenAI-compatible server and cannot take "
                f"{', '.join(fields)}; use a model served by Ollama for that.",
                kind="unsupported",
            )
        reply, done = _Reply(), False
        lines = self.stream_lines(
            "/chat/completions", chat_body(request), request.model, keep_blank=True
        )
        events = sse_data(lines)
        try:
            async for data in events:
                if done:
                    continue  # read to the end so the connection can be reused
                reply.events += 1
                if data.strip() == "[DONE]":
                    done = True
                elif delta := reply.feed(self._parse(data)):
                    yield delta
        except BackendError as exc:
            if not done:
                log.info(
                    "openai chat failed",
                    extra={"backend": self.name, "model": request.model, "kind": exc.kind},
                )
                raise
        finally:
            await events.aclose()
            await lines.aclose()
        if reply.finish is None:
            raise self._unfinished(request.model, done, reply.events)
        if calls := reply.tools.take():
            yield Delta("", {"tool_calls": calls})
        yield Final(reply.metrics())

    def _unfinished(self, model: str, done: bool, events: int) -> BackendError:
        if not events:  # llama-cpp-python ends the stream so when the prompt overflows
            reason = f"The connection to {self.name} dropped before it answered."
            return BackendError(reason, kind="dropped")
        if not done:
            reason = f"{self.name} ended the reply before it was complete."
            return BackendError(reason, kind="stream")
        log.warning(
            "reply ended without a finish reason",
            extra={"backend": self.name, "model": model, "hint": "max_concurrency: 1?"},
        )
        reason = (
            f"{self.name} ended the reply without finishing it (no finish reason): it may have "
            "been interrupted by another request."
        )
        return BackendError(reason, kind="incomplete")

    def _parse(self, data: str) -> Mapping[str, Any]:
        chunk = decode_object(data, self.name, "event")
        if error := chunk.get("error"):
            message = error.get("message", error) if isinstance(error, Mapping) else error
            overflow = overflow_in(str(message), error if isinstance(error, Mapping) else None)
            if overflow is not None:
                raise overflow
            raise BackendError(f"The model stopped with an error: {message}", kind="stream")
        return chunk

    def status_error(self, status: int, text: str, model: str | None) -> BackendError:
        # A 404 that does not mention the model means the URL lacks its /v1 (or similar).
        if status == 404 and model is not None and "model" not in text.lower():
            reason = (
                f"{self.url}/chat/completions does not exist on {self.name}. "
                "The backend URL should be the API base, usually ending in /v1."
            )
            return BackendError(reason, kind="http", status=404)
        return super().status_error(status, text, model)

    async def _models(self) -> list[Mapping[str, Any]]:
        """`/models`, or its last answer while a reply streams: a server that serves one
        request at a time (llama-cpp-python) would cut that reply short to answer it, so a
        health check, `/ready` or `/api/show` must not ask it meanwhile."""
        if self.streaming and self._listing is not None:
            return self._listing
        status, body = await self.request_json("GET", "/models")
        if status == 404 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
            reason = (
                f"{self.url} does not look like an OpenAI-compatible API (no /models). "
                "The backend URL should be the API base, usually ending in /v1."
            )
            raise BackendError(reason, kind="protocol")
        self._listing = [item for item in body["data"] if isinstance(item, dict) and item.get("id")]
        return self._listing

    async def list_models(self) -> list[ModelInfo]:
        """`/models`; `raw` keeps every field (owned_by, max_model_len…)."""
        out = []
        for item in await self._models():
            created = item.get("created")
            when = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None
            out.append(ModelInfo(name=str(item["id"]), modified_at=when, raw=dict(item)))
        return out

    async def context_windows(self, models: Sequence[ModelInfo]) -> Mapping[str, int]:
        """Windows from the model list itself, else from the first root endpoint that answers
        (llama.cpp `/props`, LM Studio `/api/v1/models`, `/api/v0/models`)."""
        found = {m.name: w for m in models if (w := _context_of(m.raw)) is not None}
        missing = [m.name for m in models if m.name not in found]
        if not missing or self._window_source == "":
            return found
        sources = [self._window_source] if self._window_source else list(_WINDOW_SOURCES)
        for source in sources:
            windows = await self._windows_from(source, missing)
            if windows is not None:
                self._window_source = source
                return found | windows
        self._window_source = ""  # this server states no window anywhere (llama-cpp-python)
        log.info("server reports no context window", extra={"backend": self.name})
        return found

    async def _windows_from(self, path: str, names: Sequence[str]) -> dict[str, int] | None:
        """The windows `path` at the server root gives, or None when it does not exist."""
        try:
            status, body = await self.request_json("GET", path, base=self._root)
        except BackendError as exc:
            if exc.kind in ("connect", "timeout"):
                raise
            return None  # 401, 405, not JSON…: not this kind of server
        if status == 404 or not isinstance(body, dict):
            return None
        if path == "/props":  # llama-server: one model, one window per slot
            settings = body.get("default_generation_settings")
            n_ctx = _positive(settings.get("n_ctx")) if isinstance(settings, Mapping) else None
            return {name: n_ctx for name in names} if n_ctx else None
        items = body.get("models") if path == "/api/v1/models" else body.get("data")
        if not isinstance(items, list):
            return None
        out: dict[str, int] = {}
        for item in items:
            if isinstance(item, Mapping):
                key = str(item.get("key") or item.get("id") or "")
                window = _context_of(item)
                if key in names and window is not None:
                    out[key] = window
        return out

    async def show(self, model: str) -> Mapping[str, Any] | None:
        """A minimal Ollama-style `/api/show` body built from `/models`, or None if not listed.

        `model_info["openai.context_length"]` is set when the model list states the window.
        """
        item = next((i for i in await self._models() if i["id"] == model), None)
        if item is None:
            return None
        info: dict[str, Any] = {"general.architecture": "openai"}
        if (window := _context_of(item)) is not None:
            info["openai.context_length"] = window
        return {"details": {}, "model_info": info, "capabilities": ["completion"], "remote": item}

    async def probe(self) -> None:
        """Healthy when `/models` answers with a model list."""
        await self._models()

    async def embed(self, request: EmbedRequest) -> Embeddings:
        """`/embeddings` with every input at once (`truncate` has no OpenAI equivalent)."""
        body: dict[str, Any] = {
            "model": request.model,
            "input": list(request.inputs),
            "encoding_format": "float",
        }
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        _, answer = await self.request_json(
            "POST", "/embeddings", body, within=self.first_token_timeout, model=request.model
        )
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise BackendError(f"{self.name} sent no embeddings.", kind="protocol")
        items = sorted(
            (i for i in data if isinstance(i, dict)), key=lambda item: int(item.get("index", 0))
        )
        usage = answer.get("usage")
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        return Embeddings(
            vectors=[list(item.get("embedding") or ()) for item in items],
            model=str(answer.get("model") or request.model),
            prompt_tokens=tokens if isinstance(tokens, int) else 0,
        )

    async def change_models(self, change: ModelChange) -> AsyncIterator[Mapping[str, Any]]:
        """Refused: an OpenAI-compatible API has no way to manage the server's models."""
        raise self._cannot(change.operation)
        yield {}  # unreachable; makes this an async generator

    async def has_blob(self, digest: str) -> bool:
        raise self._cannot("create")

    async def push_blob(self, digest: str, data: AsyncIterator[bytes]) -> None:
        raise self._cannot("create")

    def _cannot(self, operation: str) -> BackendError:
        reason = (
            f"'{self.name}' is an OpenAI-compatible server: its API cannot {operation} models, "
            "so manage them on that server itself"
        )
        return BackendError(reason, kind="unsupported", status=501)


_WINDOW_SOURCES = ("/props", "/api/v1/models", "/api/v0/models")
