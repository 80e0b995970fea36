"""Tool calls, reasoning and embeddings as OpenAI-compatible servers send them, for the fake
server (openai_server.py).

- Tool calls stream in fragments the way vLLM and llama.cpp's server send them: the first
  fragment of a call has its `index`, `id`, `type` and `function.name` with empty arguments,
  then the arguments (a JSON string) arrive in pieces under the same `index`; the reply ends
  with `finish_reason: "tool_calls"`. Whole replies carry `message.tool_calls` with the
  arguments as one JSON string.
- Reasoning streams as `delta.reasoning_content` (vLLM, DeepSeek) or `delta.reasoning`
  (Ollama, OpenRouter), before the content.
- `/v1/embeddings` answers `{"object":"list","data":[{"object":"embedding","embedding",
  "index"}],"model","usage"}`; `encoding_format: "base64"` packs little-endian float32.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

from tests.fakes.ollama_manage import normalise, vector

ARGUMENT_PIECE = 7  # characters of arguments per streamed fragment


def openai_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ollama-shaped calls (`{"function": {"name", "arguments": {...}}}`) as OpenAI's."""
    out = []
    for index, call in enumerate(calls):
        function = call.get("function", {})
        out.append(
            {
                "id": f"chatcmpl-tool-{index:04d}",
                "type": "function",
                "function": {
                    "name": function.get("name", ""),
                    "arguments": json.dumps(function.get("arguments", {})),
                },
            }
        )
    return out


def call_fragments(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `delta.tool_calls` lists of a streamed reply, one per SSE event."""
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(openai_calls(calls)):
        function = call["function"]
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": function["name"], "arguments": ""},
        }
        deltas.append({"tool_calls": [head]})
        arguments = function["arguments"]
        for start in range(0, len(arguments), ARGUMENT_PIECE):
            piece = arguments[start : start + ARGUMENT_PIECE]
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    return deltas


def embeddings_reply(
    model: str, inputs: list[str], length: int, encoding: str | None
) -> dict[str, Any]:
    data = []
    for index, text in enumerate(inputs):
        vec = normalise(vector(text, length))
        encoded: Any = vec
        if encoding == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
        data.append({"object": "embedding", "embedding": encoded, "index": index})
    tokens = sum(max(1, len(t.split())) for t in inputs)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}
