"""How each OpenAI-compatible model server really behaves, as the fake reproduces it.

Taken from the servers' own source and documentation:

- llama-cpp-python (`llama_cpp/server/app.py`, `errors.py`, `llama.py`): one request at a time
  behind a double lock; with `interrupt_requests` (the default) the reply being streamed stops
  with a bare `[DONE]` (no finish reason) as soon as another request waits for the lock,
  `/v1/models` included. No usage in streams (`stream_options` is ignored), no window anywhere
  (`/v1/models` items are id/object/owned_by/permissions; `/props` and LM Studio's lists are
  404). A prompt of `n_ctx` tokens or more raises "Requested tokens (N) exceed context window of
  M" inside the stream: the SSE headers are out already, so the stream ends without a single
  event (checked against the real server, 0.3.36); without streaming the error handler answers
  400 "This model's maximum context length is M tokens…".
- llama.cpp's `llama-server` (`tools/server`): `/props` has `default_generation_settings.n_ctx`
  (the window per slot); `/v1/models` items carry `meta.n_ctx_train` (the training length, not
  the window); a prompt of `n_ctx` tokens or more is a 400 of type `exceed_context_size_error`
  with `n_prompt_tokens` and `n_ctx`; requests queue for a slot, nothing is interrupted.
- vLLM (`vllm/entrypoints/openai`): `/v1/models` items carry `max_model_len`; an overflow is a
  400 "This model's maximum context length is M tokens. However, your request has N input
  tokens. Please reduce the length of the input messages." with type `BadRequestError`.
- LM Studio (lmstudio.ai docs, its bug tracker): `/v1/models` items are id/object/owned_by
  only; `/api/v0/models` has `max_context_length`, `/api/v1/models` the loaded instances'
  `context_length`; an overflow while streaming is answered 200 with one SSE event
  `{"error": "Trying to keep the first N tokens when context the overflows. However, the model
  is loaded with context length of only M tokens, which is not enough. …"}`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

FlavourName = Literal["llama-cpp-python", "llama-server", "vllm", "lmstudio"]
FLAVOURS: tuple[FlavourName, ...] = ("llama-cpp-python", "llama-server", "vllm", "lmstudio")


@dataclass(frozen=True)
class Flavour:
    """The quirks of one server kind."""

    name: FlavourName

    @property
    def one_at_a_time(self) -> bool:
        return self.name == "llama-cpp-python"

    @property
    def reports_usage(self) -> bool:
        return self.name != "llama-cpp-python"

    @property
    def owned_by(self) -> str:
        return {
            "llama-cpp-python": "me",
            "llama-server": "llamacpp",
            "vllm": "vllm",
            "lmstudio": "organization_owner",
        }[self.name]

    def model_item(self, model: str, window: int, created: int) -> dict[str, Any]:
        item: dict[str, Any] = {"id": model, "object": "model", "owned_by": self.owned_by}
        if self.name == "llama-cpp-python":
            item["permissions"] = []
        elif self.name == "llama-server":
            item["created"] = created
            item["meta"] = {"vocab_type": 1, "n_vocab": 262144, "n_ctx_train": 32768}
        elif self.name == "vllm":
            item |= {"created": created, "root": model, "parent": None, "max_model_len": window}
        return item

    def overflow_message(self, prompt: int, window: int) -> str:
        if self.name == "llama-cpp-python":
            return (
                f"This model's maximum context length is {window} tokens. However, you "
                f"requested {prompt} tokens ({prompt} in the messages, None in the completion). "
                "Please reduce the length of the messages or completion."
            )
        if self.name == "llama-server":
            return (
                f"request ({prompt} tokens) exceeds the available context size ({window} "
                "tokens), try increasing it"
            )
        if self.name == "vllm":
            return (
                f"This model's maximum context length is {window} tokens. However, your request "
                f"has {prompt} input tokens. Please reduce the length of the input messages."
            )
        return (
            f"Trying to keep the first {prompt} tokens when context the overflows. However, the "
            f"model is loaded with context length of only {window} tokens, which is not enough. "
            "Try to load the model with a larger context length, or provide a shorter input"
        )

    def overflow_error(self, prompt: int, window: int) -> dict[str, Any]:
        """The 400 body of a rejected prompt (flavours that answer with one)."""
        message = self.overflow_message(prompt, window)
        if self.name == "llama-server":
            error: dict[str, Any] = {
                "code": 400,
                "message": message,
                "type": "exceed_context_size_error",
                "n_prompt_tokens": prompt,
                "n_ctx": window,
            }
        elif self.name == "vllm":
            error = {"message": message, "type": "BadRequestError", "param": None, "code": 400}
        else:
            error = {
                "message": message,
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        return {"error": error}


def prompt_tokens(body: dict[str, Any], chars_per_token: float) -> int:
    """A deterministic tokenizer: `chars_per_token` characters a token, plus 4 per message for
    the chat template's markers."""
    total = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        total += 4 + math.ceil(len(str(content or "")) / chars_per_token)
    return max(total, 1)


def props(window: int, model: str) -> dict[str, Any]:
    """llama-server's `/props` (the fields a client reads)."""
    return {
        "default_generation_settings": {"n_ctx": window, "params": {"n_predict": -1}},
        "total_slots": 1,
        "model_alias": model,
        "model_path": f"/models/{model}.gguf",
        "modalities": {"vision": False, "audio": False},
        "build_info": "b6000-fake",
    }


def lmstudio_models(models: list[str], window: int, max_window: int, v1: bool) -> dict[str, Any]:
    """LM Studio's native model lists: `/api/v1/models` (0.4) or `/api/v0/models`."""
    if v1:
        return {
            "models": [
                {
                    "type": "llm",
                    "publisher": "lmstudio-community",
                    "key": model,
                    "display_name": model,
                    "architecture": "gemma3",
                    "loaded_instances": [{"id": model, "config": {"context_length": window}}],
                    "max_context_length": max_window,
                    "format": "gguf",
                }
                for model in models
            ]
        }
    return {
        "object": "list",
        "data": [
            {
                "id": model,
                "object": "model",
                "type": "llm",
                "arch": "gemma3",
                "compatibility_type": "gguf",
                "quantization": "Q4_K_M",
                "state": "loaded",
                "max_context_length": max_window,
            }
            for model in models
        ],
    }


def chunk(completion_id: str, model: str, delta: dict[str, Any], finish: str | None) -> dict:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
