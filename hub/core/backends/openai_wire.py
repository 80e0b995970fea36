"""Translation between the hub's Ollama-shaped requests and OpenAI chat completions.

The hub speaks Ollama internally (options, images, tool calls with object arguments); an
OpenAI-compatible server wants sampling parameters at the top level, images as content parts
and tool-call arguments as JSON strings, and streams tool calls in fragments.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

from hub.core.models import ChatMessage
from hub.core.ports import ChatRequest

# Ollama option -> OpenAI parameter. Other options (top_k, num_ctx, mirostat…) have no
# OpenAI equivalent and are left out rather than sent to a server that would reject them.
OPTION_NAMES = {
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "num_predict": "max_tokens",
    "max_tokens": "max_tokens",
}
EFFORTS = ("low", "medium", "high")
_MESSAGE_EXTRAS = ("tool_call_id", "name")
_IMAGE_MAGIC = {
    "/9j/": "image/jpeg",
    "iVBOR": "image/png",
    "R0lGOD": "image/gif",
    "UklGR": "image/webp",
}


def image_url(data: str) -> str:
    """A data URL for a base64 image (Ollama sends bare base64); URLs pass through."""
    if data.startswith(("data:", "http://", "https://")):
        return data
    mime = next((m for magic, m in _IMAGE_MAGIC.items() if data.startswith(magic)), "image/png")
    return f"data:{mime};base64,{data}"


def openai_tool_calls(calls: Any) -> list[dict[str, Any]]:
    """Ollama tool calls (object arguments) to OpenAI's (string arguments, id, type)."""
    out = []
    for index, call in enumerate(calls if isinstance(calls, list) else ()):
        function = dict(call.get("function") or {}) if isinstance(call, Mapping) else {}
        arguments = function.get("arguments", {})
        if not isinstance(arguments, str):
            function["arguments"] = json.dumps(arguments)
        call_id = call.get("id") if isinstance(call, Mapping) else None
        out.append({"id": call_id or f"call_{index}", "type": "function", "function": function})
    return out


def message_body(message: ChatMessage) -> dict[str, Any]:
    """One message in OpenAI's shape. `thinking` and other Ollama-only extras are dropped."""
    content: Any = message.content
    if message.images:
        content = [{"type": "text", "text": message.content}] + [
            {"type": "image_url", "image_url": {"url": image_url(i)}} for i in message.images
        ]
    body: dict[str, Any] = {"role": message.role, "content": content}
    for key in _MESSAGE_EXTRAS:
        if key in message.extra:
            body[key] = message.extra[key]
    if "tool_name" in message.extra and "name" not in body:
        body["name"] = message.extra["tool_name"]
    if message.extra.get("tool_calls"):
        body["tool_calls"] = openai_tool_calls(message.extra["tool_calls"])
    return body


def chat_body(request: ChatRequest) -> dict[str, Any]:
    """The streaming `/chat/completions` request; usage comes in a last chunk."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [message_body(m) for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    for name, value in request.options.items():
        target = OPTION_NAMES.get(name)
        if target and not (name == "num_predict" and isinstance(value, int) and value < 0):
            body[target] = value
    if request.format == "json":
        body["response_format"] = {"type": "json_object"}
    elif isinstance(request.format, Mapping):
        schema = {"name": "response", "schema": dict(request.format)}
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    if isinstance(request.think, str) and request.think in EFFORTS:
        body["reasoning_effort"] = request.think
    if request.tools:  # an empty list is rejected by stricter servers: leave it out
        body["tools"] = [dict(t) for t in request.tools]
    return body


class ToolCallAssembler:
    """Joins streamed tool-call fragments (by index) into whole Ollama-shaped calls."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, fragments: Any) -> None:
        for fragment in fragments if isinstance(fragments, list) else ():
            if not isinstance(fragment, Mapping):
                continue
            index = fragment.get("index", len(self._calls))
            call = self._calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
            call["id"] = fragment.get("id") or call["id"]
            function = fragment.get("function") or {}
            call["name"] += function.get("name") or ""
            call["arguments"] += function.get("arguments") or ""

    def take(self) -> list[dict[str, Any]]:
        """The finished calls in Ollama's shape (arguments parsed when they are JSON)."""
        out = []
        for _, call in sorted(self._calls.items()):
            try:
                arguments: Any = json.loads(call["arguments"]) if call["arguments"] else {}
            except ValueError:
                arguments = call["arguments"]
            function = {"name": call["name"], "arguments": arguments}
            out.append(
                {"id": call["id"], "function": function} if call["id"] else {"function": function}
            )
        self._calls.clear()
        return out


async def sse_data(lines: AsyncIterator[bytes]) -> AsyncGenerator[str, None]:
    """The `data` payload of each server-sent event (`lines` must include the blank lines).

    Blank lines end events; several `data:` lines of one event are joined with newlines;
    comments (`:`) and other fields (`event:`, `id:`, `retry:`) are skipped.
    """
    data: list[bytes] = []
    async for line in lines:
        if not line:
            if data:
                yield b"\n".join(data).decode("utf-8", "replace")
                data = []
        elif line.startswith(b"data:"):
            payload = line[5:]
            data.append(payload[1:] if payload.startswith(b" ") else payload)
    if data:  # a stream that ends without the last blank line
        yield b"\n".join(data).decode("utf-8", "replace")
