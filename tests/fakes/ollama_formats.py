"""The three reply formats of the fake Ollama: native chat, native generate, OpenAI chat.

Each turns the same stream of `Piece`s into its own bytes, so every endpoint shares one
scriptable streaming loop (see ollama_routes.py).
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from tests.fakes.ollama_wire import Piece, Script, ndjson, openai_error, rfc3339, sse

_ids = itertools.count(1)


def prompt_words(body: dict[str, Any]) -> int:
    """A deterministic stand-in for prompt_eval_count: words across every text the model read."""
    texts: list[str] = [str(body.get("prompt") or ""), str(body.get("system") or "")]
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [str(p.get("text", "")) for p in content if isinstance(p, dict)]
    return max(1, sum(len(t.split()) for t in texts))


class Format:
    """How one endpoint frames pieces. Subclasses fill in the shapes."""

    content_type = "application/x-ndjson"

    def __init__(self, model: str, script: Script, body: dict[str, Any]) -> None:
        self.model = model
        self.script = script
        self.body = body

    def chunk(self, piece: Piece) -> bytes:
        raise NotImplementedError

    def final(self, metrics: dict[str, int]) -> bytes:
        raise NotImplementedError

    def error(self, message: str) -> bytes:
        return ndjson({"error": message})

    def whole(self, pieces: list[Piece], metrics: dict[str, int]) -> dict[str, Any]:
        raise NotImplementedError


def _joined(pieces: list[Piece], kind: str) -> str:
    return "".join(p.text for p in pieces if p.kind == kind)


def _tool_calls(pieces: list[Piece]) -> list[dict[str, Any]]:
    return [call for p in pieces for call in p.tool_calls]


class NativeChat(Format):
    """`/api/chat`: `message` objects, metrics only on the final `done:true` line."""

    def _message(self, content: str, thinking: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if thinking:
            message["thinking"] = thinking
        if calls:
            message["tool_calls"] = calls
        return message

    def chunk(self, piece: Piece) -> bytes:
        thinking = piece.text if piece.kind == "thinking" else ""
        content = piece.text if piece.kind == "content" else ""
        message = self._message(content, thinking, list(piece.tool_calls))
        return ndjson(
            {"model": self.model, "created_at": rfc3339(), "message": message, "done": False}
        )

    def final(self, metrics: dict[str, int]) -> bytes:
        return ndjson(self.whole([], metrics))

    def whole(self, pieces: list[Piece], metrics: dict[str, int]) -> dict[str, Any]:
        message = self._message(
            _joined(pieces, "content"), _joined(pieces, "thinking"), _tool_calls(pieces)
        )
        return {
            "model": self.model,
            "created_at": rfc3339(),
            "message": message,
            "done": True,
            "done_reason": self.script.done_reason,
            **metrics,
        }


class NativeGenerate(Format):
    """`/api/generate`: `response` text; the final line adds the (deprecated) `context`."""

    def chunk(self, piece: Piece) -> bytes:
        if piece.kind == "tool_calls":
            return b""
        out: dict[str, Any] = {"model": self.model, "created_at": rfc3339(), "response": ""}
        if piece.kind == "thinking":
            out["thinking"] = piece.text
        else:
            out["response"] = piece.text
        out["done"] = False
        return ndjson(out)

    def final(self, metrics: dict[str, int]) -> bytes:
        return ndjson(self.whole([], metrics))

    def whole(self, pieces: list[Piece], metrics: dict[str, int]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "created_at": rfc3339(),
            "response": _joined(pieces, "content"),
        }
        if thinking := _joined(pieces, "thinking"):
            out["thinking"] = thinking
        out |= {"done": True, "done_reason": self.script.done_reason, "context": [1, 2, 3]}
        return out | metrics


class OpenAIChat(Format):
    """`/v1/chat/completions`: SSE chunks, role in the first delta, finish, usage, [DONE]."""

    content_type = "text/event-stream"

    def __init__(self, model: str, script: Script, body: dict[str, Any]) -> None:
        super().__init__(model, script, body)
        self.id = f"chatcmpl-{next(_ids)}"
        self.created = int(time.time())
        self.sent_role = False
        options = body.get("stream_options") or {}
        self.include_usage = bool(isinstance(options, dict) and options.get("include_usage"))

    def _chunk(self, choices: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_ollama",
            "choices": choices,
            **more,
        }

    @staticmethod
    def _calls(calls: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for index, call in enumerate(calls):
            function = call.get("function", {})
            arguments = json.dumps(function.get("arguments", {}))
            out.append(
                {
                    "id": f"call_{index}",
                    "index": index,
                    "type": "function",
                    "function": {"name": function.get("name", ""), "arguments": arguments},
                }
            )
        return out

    def chunk(self, piece: Piece) -> bytes:
        delta: dict[str, Any] = {}
        if not self.sent_role:
            delta["role"] = "assistant"
            self.sent_role = True
        if piece.kind == "content":
            delta["content"] = piece.text
        elif piece.kind == "thinking":
            delta["reasoning"] = piece.text
        else:
            delta["tool_calls"] = self._calls(piece.tool_calls)
        return sse(self._chunk([{"index": 0, "delta": delta, "finish_reason": None}]))

    def _usage(self, metrics: dict[str, int]) -> dict[str, int]:
        prompt, completion = metrics.get("prompt_eval_count", 0), metrics.get("eval_count", 0)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def final(self, metrics: dict[str, int]) -> bytes:
        reason = self.script.finish_reason()
        out = sse(self._chunk([{"index": 0, "delta": {}, "finish_reason": reason}]))
        if self.include_usage:
            out += sse(self._chunk([], usage=self._usage(metrics)))
        return out + sse("[DONE]")

    def error(self, message: str) -> bytes:
        return sse(openai_error(500, message))

    def whole(self, pieces: list[Piece], metrics: dict[str, int]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": _joined(pieces, "content")}
        if thinking := _joined(pieces, "thinking"):
            message["reasoning"] = thinking
        if calls := _tool_calls(pieces):
            message["tool_calls"] = self._calls(calls)
        choice = {"index": 0, "message": message, "finish_reason": self.script.finish_reason()}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_ollama",
            "choices": [choice],
            "usage": self._usage(metrics),
        }
