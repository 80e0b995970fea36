"""Wire shapes of the fake Ollama: per-model scripts and the three reply formats.

Shapes follow shared/reference/ollama-api.md: native NDJSON for `/api/chat` and `/api/generate`,
OpenAI SSE for `/v1/chat/completions`. Only the final native object carries metrics.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

# Ollama's own texts, so clients that match on them behave as they would in production.
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
STREAM_ERROR = "an error was encountered while running the model: unexpected EOF"

PieceKind = Literal["content", "thinking", "tool_calls"]


def rfc3339(ts: float | None = None) -> str:
    """RFC 3339 UTC with microseconds, like Go's time.RFC3339Nano output that Ollama sends."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def numbered_tokens(count: int) -> list[str]:
    """`t0`, ` t1`, ` t2`…: joined they read "t0 t1 t2", so a dropped or doubled token shows."""
    return [f"t{i}" if i == 0 else f" t{i}" for i in range(count)]


@dataclass(frozen=True, slots=True)
class Piece:
    """One streamed chunk: a content token, a thinking token, or a batch of tool calls."""

    kind: PieceKind
    text: str = ""
    tool_calls: tuple[dict[str, Any], ...] = ()


@dataclass
class Script:
    """How one model behaves. Counts (`error_after`, `drop_after`…) are in streamed chunks."""

    tokens: list[str] | None = None  # exact content tokens; None = numbered_tokens(token_count)
    token_count: int = 5
    tokens_per_second: float | None = None  # None = as fast as the socket allows
    first_token_delay: float = 0.0  # seconds before the response headers and first chunk
    thinking: list[str] | None = None  # thinking tokens streamed before the content
    tool_calls: list[dict[str, Any]] | None = None  # Ollama shape: {"function":{name,arguments}}
    error_after: int | None = None  # write an {"error":…} line after N chunks
    error_message: str = STREAM_ERROR
    drop_after: int | None = None  # abort the TCP connection after N chunks
    end_after: int | None = None  # end the response cleanly after N chunks, without the final one
    status: int | None = None  # answer this HTTP status before streaming (500, 503…)
    status_message: str = "llama runner process has terminated: exit status 2"
    split_lines: bool = False  # write every line in two writes, cut mid-line
    context_length: int = 8192
    embedding_length: int = 8  # length of the vectors /api/embed returns
    family: str = ""  # "" = from the name: gemma3:270m -> gemma, llama3.2:1b -> llama
    parameter_size: str = "1.2B"
    quantization_level: str = "Q4_K_M"
    done_reason: str = "stop"
    prompt_eval_count: int | None = None  # None = words in the prompt (at least 1)
    extra_show: dict[str, Any] = field(default_factory=dict)  # merged into /api/show
    extra_v1_model: dict[str, Any] = field(default_factory=dict)  # e.g. vLLM's max_model_len

    def pieces(self) -> list[Piece]:
        out = [Piece("thinking", t) for t in self.thinking or ()]
        tokens = self.tokens if self.tokens is not None else numbered_tokens(self.token_count)
        out += [Piece("content", t) for t in tokens]
        if self.tool_calls:
            out.append(Piece("tool_calls", tool_calls=tuple(self.tool_calls)))
        return out

    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls and self.done_reason == "stop" else self.done_reason


@dataclass
class Recorded:
    """One request the fake received, and how its reply ended.

    `outcome`: pending, answered (non-generation routes), complete, error_line, dropped,
    ended (stopped without the final chunk), client_closed (the client went away mid-reply),
    server_stopped.
    """

    method: str
    path: str
    json: Any
    headers: dict[str, str]
    chunks_sent: int = 0
    outcome: str = "pending"
    at: float = field(default_factory=time.monotonic)

    @property
    def model(self) -> str | None:
        model = self.json.get("model") if isinstance(self.json, dict) else None
        return str(model) if model is not None else None


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A model as `/api/tags` lists it."""

    name: str
    modified_at: float

    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def family(self, script: Script) -> str:
        base = self.name.split(":")[0].split("/")[-1]
        return script.family or base.rstrip("0123456789.-") or base

    def details(self, script: Script) -> dict[str, Any]:
        family = self.family(script)
        return {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": script.parameter_size,
            "quantization_level": script.quantization_level,
        }

    def tag(self, script: Script) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": rfc3339(self.modified_at),
            "size": 1_000_000 + len(self.name) * 4096,
            "digest": self.digest(),
            "details": self.details(script),
        }

    def show(self, script: Script) -> dict[str, Any]:
        arch = self.family(script)
        caps = ["completion"]
        if script.thinking is not None:
            caps.append("thinking")
        if script.tool_calls is not None:
            caps.append("tools")
        body: dict[str, Any] = {
            "modelfile": f"FROM {self.name}\n",
            "parameters": 'stop                           "<|eot|>"',
            "template": "{{ .Prompt }}",
            "details": self.details(script),
            "model_info": {
                "general.architecture": arch,
                "general.parameter_count": 1_235_814_432,
                f"{arch}.context_length": script.context_length,
                f"{arch}.embedding_length": 2048,
            },
            "capabilities": caps,
            "modified_at": rfc3339(self.modified_at),
        }
        body.update(script.extra_show)
        return body


@dataclass
class Clock:
    """Measures one reply so the final chunk carries real, non-zero durations in ns."""

    start: int = field(default_factory=time.perf_counter_ns)
    first: int = 0
    load_duration: int = 1_000_000  # simulated, non-zero so the field is present (omitempty)

    def mark_first(self) -> None:
        if not self.first:
            self.first = time.perf_counter_ns()

    def metrics(self, prompt_eval_count: int, eval_count: int) -> dict[str, int]:
        end = time.perf_counter_ns()
        first = self.first or end
        out = {
            "total_duration": max(1, end - self.start) + self.load_duration,
            "load_duration": self.load_duration,
            "prompt_eval_count": prompt_eval_count,
            "prompt_eval_duration": max(1, first - self.start),
            "eval_count": eval_count,
            "eval_duration": max(1, end - first),
        }
        return {k: v for k, v in out.items() if v}  # omitempty, as Ollama does


def ndjson(obj: Any) -> bytes:
    return (json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def sse(obj: Any) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def openai_error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
