"""Ollama wire shapes: request bodies, NDJSON chunks, model list entries.

Chunks are assembled from pre-encoded byte pieces: this runs once per streamed token, so it
avoids building and encoding a dict each time. Chunks never carry `id` or `detail` keys (the
Open WebUI v0.1.120 frontend reads those as a request id and an error).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from hub.core.models import Done, Metrics
from hub.core.ports import ModelListing

_encode = msgspec.json.encode


# --- request bodies ---------------------------------------------------------------------------


class OllamaMessage(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One chat message (`role`, `content`, optional images, thinking and tool fields)."""

    role: str
    content: str | None = None
    images: list[str] | None = None
    thinking: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_name: str | None = None


class OllamaChatRequest(msgspec.Struct, kw_only=True):
    """`POST /api/chat`. An omitted `stream` streams."""

    model: str
    messages: list[OllamaMessage] = msgspec.field(default_factory=list)
    stream: bool = True
    options: dict[str, Any] | None = None
    format: str | dict[str, Any] | None = None
    keep_alive: str | int | float | None = None
    think: bool | str | None = None
    tools: list[dict[str, Any]] | None = None


class OllamaGenerateRequest(msgspec.Struct, kw_only=True):
    """`POST /api/generate`. `suffix`, `template`, `raw` and `context` need an Ollama backend."""

    model: str
    prompt: str = ""
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    raw: bool = False
    context: list[int] | None = None
    images: list[str] | None = None
    stream: bool = True
    options: dict[str, Any] | None = None
    format: str | dict[str, Any] | None = None
    keep_alive: str | int | float | None = None
    think: bool | str | None = None


class OllamaShowRequest(msgspec.Struct, kw_only=True):
    """`POST /api/show`; older clients send `name` instead of `model`."""

    model: str = ""
    name: str = ""
    verbose: bool = False


# --- times ------------------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as Ollama writes it: 2025-01-02T03:04:05.678901Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_second_stamp: tuple[int, str] = (-1, "")


def now_rfc3339() -> str:
    """`rfc3339` of now; called for every streamed line, so the seconds are formatted once."""
    global _second_stamp
    now = time.time()
    second = int(now)
    if _second_stamp[0] != second:
        _second_stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_second_stamp[1]}.{int((now - second) * 1_000_000):06d}Z"


# --- streamed chunks --------------------------------------------------------------------------


def metrics_fields(metrics: Metrics) -> dict[str, int]:
    """The final-object metrics, omitting zeros (Ollama's `omitempty`)."""
    fields = {
        "total_duration": metrics.total_duration,
        "load_duration": metrics.load_duration,
        "prompt_eval_count": metrics.prompt_tokens,
        "prompt_eval_duration": metrics.prompt_eval_duration,
        "eval_count": metrics.completion_tokens,
        "eval_duration": metrics.eval_duration,
    }
    return {k: v for k, v in fields.items() if v}


class ChunkEncoder:
    """Encodes one reply's NDJSON lines for `/api/chat` (kind "chat") or `/api/generate`."""

    def __init__(self, model: str, kind: Literal["chat", "generate"]) -> None:
        self.model = model
        self.kind = kind
        self._head = b'{"model":' + _encode(model) + b',"created_at":"'
        if kind == "chat":
            self._mid = b'","message":{"role":"assistant","content":'
            self._tail = b'},"done":false}\n'
        else:
            self._mid = b'","response":'
            self._tail = b',"done":false}\n'

    def text(self, delta: str) -> bytes:
        return self._head + now_rfc3339().encode() + self._mid + _encode(delta) + self._tail

    def extra(self, data: Mapping[str, Any]) -> bytes:
        return _encode(self._object("", data, done=False)) + b"\n"

    def done(self, event: Done) -> bytes:
        return _encode(self.final(event, "")) + b"\n"

    @staticmethod
    def error(message: str) -> bytes:
        return _encode({"error": message}) + b"\n"

    def final(
        self, event: Done, text: str, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The `done:true` object; with `text` and `extra` it is also the non-stream reply."""
        body = self._object(text, extra or {}, done=True)
        body["done_reason"] = event.metrics.done_reason or "stop"
        if self.kind == "generate":
            body.update(event.final)  # `context`, as Ollama's own last line has it
        body.update(metrics_fields(event.metrics))
        return body

    def load(self, reason: str) -> dict[str, Any]:
        """The single object answering a load/unload request (empty messages or prompt)."""
        body = self._object("", {}, done=True)
        body["done_reason"] = reason
        return body

    def _object(self, text: str, extra: Mapping[str, Any], *, done: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "created_at": now_rfc3339()}
        if self.kind == "chat":
            body["message"] = {"role": "assistant", "content": text, **extra}
        else:
            body["response"] = text
            body.update(extra)
        body["done"] = done
        return body


def merge_extra(into: dict[str, Any], data: Mapping[str, Any]) -> None:
    """Accumulate streamed extras for a non-stream reply: text joins, lists extend."""
    for key, value in data.items():
        old = into.get(key)
        if isinstance(old, str) and isinstance(value, str):
            into[key] = old + value
        elif isinstance(old, list) and isinstance(value, list):
            old.extend(value)
        else:
            into[key] = list(value) if isinstance(value, list) else value


# --- model list -------------------------------------------------------------------------------

_DETAIL_DEFAULTS: Mapping[str, Any] = {
    "parent_model": "",
    "format": "",
    "family": "",
    "families": None,
    "parameter_size": "",
    "quantization_level": "",
}


def tag_entry(listing: ModelListing, fallback_time: datetime) -> dict[str, Any]:
    """One `/api/tags` item: every upstream field kept, `name`/`model` set to the listed name."""
    info = listing.info
    entry: dict[str, Any] = dict(info.raw) if info is not None else {}
    entry["name"] = listing.name
    entry["model"] = listing.name
    if not isinstance(entry.get("modified_at"), str):
        moment = info.modified_at if info is not None and info.modified_at else fallback_time
        entry["modified_at"] = rfc3339(moment)
    entry.setdefault("size", info.size if info is not None else 0)
    entry.setdefault("digest", info.digest if info is not None else "")
    details = entry.get("details")
    if not isinstance(details, dict):
        details = dict(info.details) if info is not None else {}
    entry["details"] = {**_DETAIL_DEFAULTS, **details}
    return entry
