"""Ollama backend: streams `/api/chat` NDJSON (shared/reference/ollama-api.md)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from hub.core.backends.base import DEFAULT_REQUEST_TIMEOUT, decode_object
from hub.core.backends.ollama_admin import OllamaAdmin
from hub.core.backends.overflow import overflow_in
from hub.core.models import ChatMessage, Metrics
from hub.core.ports import (
    BackendChunk,
    BackendError,
    ChatRequest,
    Delta,
    Embeddings,
    EmbedRequest,
    Final,
    ModelInfo,
)

log = logging.getLogger(__name__)

_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)
_EMPTY: tuple[Any, ...] = (None, "", [], {})
_PLAIN = ("role", "content")
_SHOW_CONCURRENCY = 4


def context_length(show_body: Mapping[str, Any] | None) -> int | None:
    """The context window an Ollama `/api/show` body reports, in tokens.

    A `num_ctx` set in the Modelfile (`parameters`) is what Ollama really uses, so it wins over
    the trained length in `model_info["<arch>.context_length"]`.
    """
    if not show_body:
        return None
    parameters = show_body.get("parameters")
    if isinstance(parameters, str) and (match := _NUM_CTX.search(parameters)):
        return int(match.group(1))
    info = show_body.get("model_info") or {}
    if not isinstance(info, Mapping):
        return None
    arch = info.get("general.architecture")
    value = info.get(f"{arch}.context_length") if arch else None
    if value is None:  # unknown architecture key: take any "*.context_length"
        value = next((v for k, v in info.items() if k.endswith(".context_length")), None)
    return value if isinstance(value, int) and value > 0 else None


def show_with_window(body: Mapping[str, Any], window: int | None) -> Mapping[str, Any]:
    """`body` (an `/api/show` answer) saying `window` is the context window in use: as the
    `num_ctx` line of `parameters`, as Ollama states it, and for a body the hub made up for an
    OpenAI-compatible server, as `model_info["openai.context_length"]` too."""
    if window is None or window == context_length(body):
        return body
    out = dict(body)
    parameters = body.get("parameters")
    lines = [ln for ln in str(parameters or "").splitlines() if not _NUM_CTX.match(ln)]
    out["parameters"] = "\n".join([*lines, f"{'num_ctx':<31}{window}"])
    info = body.get("model_info")
    if isinstance(info, Mapping) and info.get("general.architecture") == "openai":
        out["model_info"] = {**info, "openai.context_length": window}
    return out


def message_body(message: ChatMessage) -> dict[str, Any]:
    """One message in Ollama's shape; `extra` (tool_calls, thinking, tool_name…) rides along."""
    body: dict[str, Any] = {**message.extra, "role": message.role, "content": message.content}
    if message.images:
        body["images"] = list(message.images)
    return body


def metrics_from(done: Mapping[str, Any]) -> Metrics:
    """Metrics of Ollama's final `done:true` object (absent fields are zero)."""

    def count(key: str) -> int:
        value = done.get(key)
        return value if isinstance(value, int) else 0

    return Metrics(
        prompt_tokens=count("prompt_eval_count"),
        completion_tokens=count("eval_count"),
        total_duration=count("total_duration"),
        load_duration=count("load_duration"),
        prompt_eval_duration=count("prompt_eval_duration"),
        eval_duration=count("eval_duration"),
        done_reason=str(done.get("done_reason") or "stop"),
    )


def _model_info(item: Mapping[str, Any]) -> ModelInfo:
    modified: datetime | None = None
    if isinstance(raw_time := item.get("modified_at"), str):
        try:
            modified = datetime.fromisoformat(raw_time)
        except ValueError:
            modified = None
    details = item.get("details")
    size = item.get("size")
    return ModelInfo(
        name=str(item.get("model") or item.get("name") or ""),
        modified_at=modified,
        size=size if isinstance(size, int) else 0,
        digest=str(item.get("digest") or ""),
        details=details if isinstance(details, Mapping) else {},
        raw=dict(item),
    )


class OllamaBackend(OllamaAdmin):
    """A model server speaking Ollama's native API (management: `OllamaAdmin`).

    `url` is the server root (`http://127.0.0.1:11434`, or a proxy prefix such as
    `http://host/ollama`); `api_key`, when set, is sent as `Authorization: Bearer`.
    `keep_alive` applies when a request does not set its own.
    """

    kind = "ollama"
    label = "Ollama"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        keep_alive: str | None = None,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        first_token_timeout: float = 120.0,
        chunk_timeout: float = 60.0,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        super().__init__(
            name,
            url,
            api_key=api_key,
            connect_timeout=connect_timeout,
            first_token_timeout=first_token_timeout,
            chunk_timeout=chunk_timeout,
            request_timeout=request_timeout,
        )
        self.keep_alive = keep_alive

    def chat_body(self, request: ChatRequest) -> dict[str, Any]:
        """The `/api/chat` request for `request`: the whole history plus pass-through fields."""
        body = self._pass_through(request)
        body["messages"] = [message_body(m) for m in request.messages]
        if request.tools:
            body["tools"] = list(request.tools)
        return body

    def _pass_through(self, request: ChatRequest) -> dict[str, Any]:
        """The fields `/api/chat` and `/api/generate` share: model, options and the rest."""
        body: dict[str, Any] = {"model": request.model, "stream": True}
        if request.options:
            body["options"] = dict(request.options)
        keep_alive = request.keep_alive if request.keep_alive is not None else self.keep_alive
        for key, value in (
            ("keep_alive", keep_alive),
            ("format", request.format),
            ("think", request.think),
        ):
            if value is not None:
                body[key] = value
        return body

    def generate_body(self, request: ChatRequest) -> dict[str, Any]:
        """The `/api/generate` request for a completion: the prompt is the last user message,
        `system` the system message, plus the completion's own fields."""
        completion = request.completion
        assert completion is not None
        body = self._pass_through(request)  # /api/generate has no messages and no tools
        prompt = next((m for m in reversed(request.messages) if m.role == "user"), None)
        body["prompt"] = prompt.content if prompt is not None else ""
        if prompt is not None and prompt.images:
            body["images"] = list(prompt.images)
        system = next((m.content for m in request.messages if m.role == "system"), None)
        for key, value in (
            ("system", system),
            ("suffix", completion.suffix),
            ("template", completion.template),
            ("raw", completion.raw or None),
            ("context", list(completion.context) if completion.context is not None else None),
        ):
            if value is not None:
                body[key] = value
        return body

    async def chat(self, request: ChatRequest) -> AsyncIterator[BackendChunk]:
        """Stream `/api/chat` (or `/api/generate` for a completion): `Delta`s as lines arrive,
        then one `Final` with the metrics."""
        final: Final | None = None
        lines_seen = 0
        if request.completion is None:
            lines = self.stream_lines("/api/chat", self.chat_body(request), request.model)
            delta_of = self._delta
        else:
            lines = self.stream_lines("/api/generate", self.generate_body(request), request.model)
            delta_of = self._completion_delta
        try:
            async for line in lines:
                lines_seen += 1
                if final is not None:
                    continue  # read to the end so the connection can be reused
                chunk = self._parse(line)
                if delta := delta_of(chunk):
                    yield delta
                if chunk.get("done"):
                    context = chunk.get("context")
                    extra = {"context": context} if isinstance(context, list) else {}
                    final = Final(metrics_from(chunk), extra)
        except BackendError as exc:
            if final is None:
                log.info(
                    "ollama chat failed",
                    extra={"backend": self.name, "model": request.model, "kind": exc.kind},
                )
                raise
        finally:
            await lines.aclose()
        if final is None and not lines_seen:
            reason = f"The connection to {self.name} dropped before it answered."
            raise BackendError(reason, kind="dropped")
        if final is None:
            reason = f"{self.name} ended the reply before it was complete."
            raise BackendError(reason, kind="stream")
        yield final

    def _parse(self, line: bytes) -> dict[str, Any]:
        chunk = decode_object(line, self.name, "line")
        if error := chunk.get("error"):
            if (overflow := overflow_in(str(error))) is not None:
                raise overflow
            raise BackendError(f"The model stopped with an error: {error}", kind="stream")
        return chunk

    @staticmethod
    def _delta(chunk: Mapping[str, Any]) -> Delta | None:
        message = chunk.get("message")
        if not isinstance(message, Mapping):
            return None
        text = message.get("content") or ""
        extra = (  # most lines hold only role and content: skip the scan for them
            {k: v for k, v in message.items() if k not in _PLAIN and v not in _EMPTY}
            if len(message) > len(_PLAIN)
            else {}
        )
        if (logprobs := chunk.get("logprobs")) not in _EMPTY:
            extra["logprobs"] = logprobs
        if not text and not extra:
            return None
        return Delta(str(text), extra)

    @staticmethod
    def _completion_delta(chunk: Mapping[str, Any]) -> Delta | None:
        text = chunk.get("response") or ""
        thinking = chunk.get("thinking")
        extra = {"thinking": thinking} if thinking else {}
        if not text and not extra:
            return None
        return Delta(str(text), extra)

    async def list_models(self) -> list[ModelInfo]:
        """`/api/tags`, every upstream field kept in `raw`."""
        status, body = await self.request_json("GET", "/api/tags")
        if status == 404 or not isinstance(body, dict):
            raise self._not_ollama("/api/tags")
        return [_model_info(item) for item in body.get("models") or () if isinstance(item, dict)]

    async def show(self, model: str) -> Mapping[str, Any] | None:
        """`/api/show` for `model`, or None when the server does not know it."""
        status, body = await self.request_json("POST", "/api/show", {"model": model})
        if status == 404 or not isinstance(body, dict):
            return None
        result: Mapping[str, Any] = body
        return result

    async def context_windows(self, models: Sequence[ModelInfo]) -> Mapping[str, int]:
        """Each model's window from `/api/show` (`num_ctx` when set, else the model's own
        length), asked a few at a time."""
        gate = asyncio.Semaphore(_SHOW_CONCURRENCY)

        async def one(name: str) -> tuple[str, int | None]:
            async with gate:
                return name, context_length(await self.show(name))

        answers = await asyncio.gather(*(one(m.name) for m in models))
        return {name: window for name, window in answers if window is not None}

    async def running(self) -> list[dict[str, Any]]:
        """`/api/ps`: the models loaded in memory now, every upstream field kept."""
        status, body = await self.request_json("GET", "/api/ps")
        if status == 404 or not isinstance(body, dict):
            raise self._not_ollama("/api/ps")
        return [dict(item) for item in body.get("models") or () if isinstance(item, dict)]

    async def embed(self, request: EmbedRequest) -> Embeddings:
        """`/api/embed` (or the legacy `/api/embeddings`, one prompt, for `request.legacy`),
        within the first-token timeout: the model may have to load first."""
        if request.legacy:
            return await self._embed_legacy(request)
        body = _embed_fields(request)
        body["input"] = list(request.inputs)
        for key, value in (("truncate", request.truncate), ("dimensions", request.dimensions)):
            if value is not None:
                body[key] = value
        _, answer = await self.request_json(
            "POST", "/api/embed", body, within=self.first_token_timeout, model=request.model
        )
        vectors = answer.get("embeddings") if isinstance(answer, dict) else None
        if not isinstance(vectors, list):
            raise BackendError(f"{self.name} sent no embeddings.", kind="protocol")
        return Embeddings(
            vectors=vectors,
            model=str(answer.get("model") or request.model),
            prompt_tokens=_count(answer, "prompt_eval_count"),
            total_duration=_count(answer, "total_duration"),
            load_duration=_count(answer, "load_duration"),
        )

    async def _embed_legacy(self, request: EmbedRequest) -> Embeddings:
        body = _embed_fields(request)
        body["prompt"] = request.inputs[0] if request.inputs else ""
        _, answer = await self.request_json(
            "POST", "/api/embeddings", body, within=self.first_token_timeout, model=request.model
        )
        vector = answer.get("embedding") if isinstance(answer, dict) else None
        if not isinstance(vector, list):
            raise BackendError(f"{self.name} sent no embedding.", kind="protocol")
        return Embeddings(vectors=[vector], model=request.model)

    async def probe(self) -> None:
        """Healthy when `/api/version` and `/api/tags` both answer."""
        status, body = await self.request_json("GET", "/api/version")
        if status == 404 or not isinstance(body, dict) or "version" not in body:
            raise self._not_ollama("/api/version")
        await self.list_models()

    def _not_ollama(self, path: str) -> BackendError:
        reason = f"{self.url} does not look like Ollama (no {path}). Check the backend URL."
        return BackendError(reason, kind="protocol")


def _embed_fields(request: EmbedRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model}
    if request.options:
        body["options"] = dict(request.options)
    if request.keep_alive is not None:
        body["keep_alive"] = request.keep_alive
    return body


def _count(body: Mapping[str, Any], key: str) -> int:
    value = body.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
