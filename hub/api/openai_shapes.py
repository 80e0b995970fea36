"""OpenAI chat-completions wire shapes: request bodies, SSE chunks, conversion to core messages."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

from hub.core.models import ChatMessage, Metrics

_encode = msgspec.json.encode


class OpenAIMessage(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One message; `content` is a string or a list of parts (text, image_url)."""

    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    reasoning: str | None = None
    reasoning_content: str | None = None


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool = False


class Reasoning(msgspec.Struct, kw_only=True):
    effort: str | None = None


# OpenAI's reasoning efforts as Ollama's `think` (openai/openai.go thinkFromReasoningEffort):
# the ends of OpenAI's scale are clamped to Ollama's tiers rather than refused.
_THINK: dict[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
}


def to_think(effort: str | None) -> bool | str | None:
    """`think` for a reasoning effort (None: the model's default); ValueError if unknown."""
    if not effort:
        return None
    if effort not in _THINK:
        known = ", ".join(f'"{e}"' for e in _THINK)
        raise ValueError(f"invalid reasoning effort {effort!r} (use one of {known})")
    return _THINK[effort]


class OpenAIChatRequest(msgspec.Struct, kw_only=True):
    """`POST /v1/chat/completions`. An omitted `stream` does not stream."""

    model: str
    messages: list[OpenAIMessage]
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None  # accepted, ignored (as Ollama does)
    reasoning_effort: str | None = None
    reasoning: Reasoning | None = None  # {"effort": …}, as Ollama also takes it
    user: str | None = None
    n: int | None = None


# --- request -> core --------------------------------------------------------------------------


def _content(content: str | list[dict[str, Any]] | None) -> tuple[str, tuple[str, ...]]:
    if content is None or isinstance(content, str):
        return content or "", ()
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url", "") if isinstance(image, dict) else str(image or "")
            # Ollama takes bare base64; strip a data-URL prefix.
            images.append(url.split(",", 1)[1] if url.startswith("data:") else url)
    return "".join(texts), tuple(images)


def _native_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI tool calls (arguments as a JSON string) in Ollama's shape (a JSON object)."""
    native = []
    for call in calls:
        function = dict(call.get("function") or {})
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            with contextlib.suppress(ValueError):  # not JSON: forward it as it came
                function["arguments"] = json.loads(arguments) if arguments else {}
        # The id stays (Ollama's tool calls have one too): the tool's answer names it.
        native.append(
            {"id": call["id"], "function": function} if call.get("id") else {"function": function}
        )
    return native


def to_chat_message(message: OpenAIMessage) -> ChatMessage:
    text, images = _content(message.content)
    extra: dict[str, Any] = {}
    if message.tool_calls:
        extra["tool_calls"] = _native_tool_calls(message.tool_calls)
    if message.tool_call_id:
        extra["tool_call_id"] = message.tool_call_id
    if message.name and message.role == "tool":
        extra["tool_name"] = message.name
    if message.reasoning or message.reasoning_content:
        extra["thinking"] = message.reasoning or message.reasoning_content
    return ChatMessage(role=message.role, content=text, images=images, extra=extra)


def to_options(req: OpenAIChatRequest) -> dict[str, Any]:
    """Sampling parameters in Ollama `options` terms."""
    stop = [req.stop] if isinstance(req.stop, str) else req.stop
    options = {
        "temperature": req.temperature,
        "top_p": req.top_p,
        "seed": req.seed,
        "stop": stop,
        "num_predict": req.max_completion_tokens or req.max_tokens,
        "frequency_penalty": req.frequency_penalty,
        "presence_penalty": req.presence_penalty,
    }
    return {k: v for k, v in options.items() if v is not None}


def to_format(response_format: Mapping[str, Any] | None) -> Any:
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = response_format.get("json_schema") or {}
        return schema.get("schema") if isinstance(schema, dict) else None
    return None


# --- core -> response -------------------------------------------------------------------------


def finish_reason(metrics: Metrics, used_tools: bool) -> str:
    if used_tools:
        return "tool_calls"
    return "length" if metrics.done_reason == "length" else "stop"


def usage(metrics: Metrics) -> dict[str, int]:
    return {
        "prompt_tokens": metrics.prompt_tokens,
        "completion_tokens": metrics.completion_tokens,
        "total_tokens": metrics.prompt_tokens + metrics.completion_tokens,
    }


def openai_tool_calls(calls: list[Any], start: int) -> list[dict[str, Any]]:
    """Ollama tool calls in OpenAI's shape: ids (the server's when it gave one), indexes,
    arguments as a JSON string."""
    out = []
    for offset, call in enumerate(calls):
        function = dict(call.get("function") or {}) if isinstance(call, Mapping) else {}
        function.pop("index", None)  # Ollama's own position field; OpenAI's is the call's
        arguments = function.get("arguments", {})
        if not isinstance(arguments, str):
            function["arguments"] = json.dumps(arguments)
        given = call.get("id") if isinstance(call, Mapping) else None
        out.append(
            {
                "id": given
                if isinstance(given, str) and given
                else f"call_{uuid.uuid4().hex[:12]}",
                "index": start + offset,
                "type": "function",
                "function": function,
            }
        )
    return out


class SseEncoder:
    """Encodes one completion stream: one id and one `created` for every chunk."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model
        self._first = True
        self.tool_calls = 0
        self._head = (
            b'data: {"id":"'
            + self.id.encode()
            + b'","object":"chat.completion.chunk","created":'
            + str(self.created).encode()
            + b',"model":'
            + _encode(model)
            + b',"system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":'
        )

    def text(self, delta: str) -> bytes:
        if self._first:
            return self.delta({"content": delta})
        return self._head + b'{"content":' + _encode(delta) + b'},"finish_reason":null}]}\n\n'

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        if self._first:
            delta = {"role": "assistant", **delta}
            self._first = False
        return self._head + _encode(delta) + b',"finish_reason":' + _encode(finish) + b"}]}\n\n"

    def extra(self, data: Mapping[str, Any]) -> bytes | None:
        delta: dict[str, Any] = {}
        if data.get("thinking"):
            # Ollama names it `reasoning`, vLLM and DeepSeek `reasoning_content`: clients read
            # one or the other (Open WebUI either), so both are sent.
            delta["reasoning"] = delta["reasoning_content"] = data["thinking"]
        calls = data.get("tool_calls")
        if isinstance(calls, list) and calls:
            delta["tool_calls"] = openai_tool_calls(calls, self.tool_calls)
            self.tool_calls += len(calls)
        return self.delta(delta) if delta else None

    def finish(self, metrics: Metrics) -> bytes:
        return self.delta({}, finish_reason(metrics, self.tool_calls > 0))

    def usage(self, metrics: Metrics) -> bytes:
        body = self._base("chat.completion.chunk")
        body["choices"] = []
        body["usage"] = usage(metrics)
        return b"data: " + _encode(body) + b"\n\n"

    @staticmethod
    def error(body: Mapping[str, Any]) -> bytes:
        return b"data: " + _encode(body) + b"\n\n"

    DONE = b"data: [DONE]\n\n"

    def _base(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_ollama",
        }

    def completion(
        self, content: str, extras: list[Mapping[str, Any]], metrics: Metrics
    ) -> dict[str, Any]:
        """The non-streaming `chat.completion` object."""
        message: dict[str, Any] = {"role": "assistant", "content": content}
        reasoning = "".join(str(e.get("thinking", "")) for e in extras)
        if reasoning:
            message["reasoning"] = message["reasoning_content"] = reasoning
        calls = [c for e in extras for c in (e.get("tool_calls") or [])]
        if calls:
            message["tool_calls"] = openai_tool_calls(calls, 0)
        body = self._base("chat.completion")
        body["choices"] = [
            {"index": 0, "message": message, "finish_reason": finish_reason(metrics, bool(calls))}
        ]
        body["usage"] = usage(metrics)
        return body
