"""A scripted in-process ChatBackend for fast pipeline unit tests.

Each model's reply is scripted: the tokens, a delay per token, and where it fails. It records
every request and whether the consumer closed the stream early.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.core.models import Metrics
from hub.core.ports import BackendChunk, BackendError, ChatRequest, Delta, Final, ModelInfo


@dataclass
class Script:
    """How the backend answers one model."""

    tokens: list[str] = field(default_factory=lambda: ["Hello", " there", "!"])
    delay: float = 0.0
    fail_before: BackendError | None = None
    fail_after: int | None = None  # raise a stream error after this many tokens
    prompt_tokens: int | None = None  # reported prompt_eval_count (default: chars // 4)
    context_length: int | None = None


class ScriptedBackend:
    """A ChatBackend whose answers are scripted per model."""

    def __init__(self, name: str = "scripted", scripts: Mapping[str, Script] | None = None):
        self.name = name
        self.scripts: dict[str, Script] = dict(scripts or {"m1": Script()})
        self.requests: list[ChatRequest] = []
        self.closed_early = 0
        self.finished = 0
        self.got_request = asyncio.Event()

    async def chat(self, request: ChatRequest) -> AsyncIterator[BackendChunk]:
        self.requests.append(request)
        self.got_request.set()
        script = self.scripts.get(request.model)
        if script is None:
            raise BackendError(f"Model {request.model} is not installed.", kind="not_found")
        if script.fail_before is not None:
            raise script.fail_before
        complete = False
        try:
            for index, token in enumerate(script.tokens):
                if script.fail_after is not None and index == script.fail_after:
                    raise BackendError("The model server broke off the reply.", kind="stream")
                if script.delay:
                    await asyncio.sleep(script.delay)
                yield Delta(token)
            chars = sum(len(m.content) for m in request.messages)
            prompt = script.prompt_tokens if script.prompt_tokens is not None else chars // 4
            complete = True
            yield Final(Metrics(prompt_tokens=prompt, completion_tokens=len(script.tokens)))
        finally:
            if complete:
                self.finished += 1
            else:
                self.closed_early += 1

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(name) for name in self.scripts]

    async def show(self, model: str) -> Mapping[str, Any] | None:
        script = self.scripts.get(model)
        if script is None:
            return None
        info = {"llama.context_length": script.context_length} if script.context_length else {}
        return {"model_info": info}

    async def probe(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
