"""One generation: stream a request through the router into reply events, then count usage."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hub.core.chat_config import ChatConfig
from hub.core.context import TokenEstimator
from hub.core.models import (
    ChatMessage,
    Done,
    Extra,
    Failed,
    IncomingMessage,
    Metrics,
    Queued,
    ReplyEvent,
    Started,
    Text,
    Turn,
    User,
)
from hub.core.ports import (
    Admission,
    BackendError,
    ChatRequest,
    ContextOverflow,
    Delta,
    Final,
    LimitGate,
    ModelRouter,
    RouteContext,
    StoreError,
    Stores,
)
from hub.core.reply_channel import Emit
from hub.core.routing.failover import is_request_fault

log = logging.getLogger(__name__)

# BackendError.kind -> Failed.code (anything else: "unavailable").
_CODES = {
    "not_found": "not_found",
    "busy": "busy",
    "forbidden": "forbidden",
    "down": "backend_down",
}
UNFINISHED = "The model stopped without finishing its reply. Try again."


@dataclass(slots=True)
class Run:
    """What one generation has produced so far (read by the final write, whatever happens)."""

    model: str
    backend: str | None = None
    parts: list[str] = field(default_factory=list)
    metrics: Metrics | None = None
    final: Mapping[str, Any] = field(default_factory=dict)
    user_turn: Turn | None = None
    sent: tuple[ChatMessage, ...] = ()

    @property
    def text(self) -> str:
        return "".join(self.parts)


def backend_failed(exc: BackendError, partial: str = "", model: str | None = None) -> Failed:
    """The user-facing event for a backend or routing error."""
    code = "bad_request" if is_request_fault(exc) else _CODES.get(exc.kind, "unavailable")
    return Failed(exc.reason, partial, code=code, model=model, retry_after=exc.retry_after)


def overflow_failed(exc: ContextOverflow, model: str, window: int | None, *, chat: bool) -> Failed:
    """The event for a conversation that does not fit `model`'s context window (`window`: the
    best known size when the server did not state it)."""
    size = exc.window or window
    if size is not None:
        fits = f"{model}'s {size}-token context window"
    elif exc.below is not None:
        fits = f"{model}'s context window (fewer than about {exc.below} tokens)"
    else:
        fits = f"{model}'s context window"
    if chat:
        reason = (
            f"This conversation no longer fits {fits}, even with older messages left out. "
            "Send a shorter message, or /new to start fresh."
        )
    else:
        reason = (
            f"The conversation exceeds {fits}. Send fewer or shorter messages, or choose a "
            "model with a larger window."
        )
    return Failed(reason, code="bad_request", model=model)


def refused(admission: Admission, model: str) -> Failed:
    """The user-facing event for a message the limits refused (same as limits' refusal_event)."""
    return Failed(
        admission.message or "Rate limit reached. Try again later.",
        code=admission.code or "rate_limited",
        retry_after=admission.retry_after,
        model=model,
        limit=admission.limit,
        remaining=admission.remaining,
        reset_after=admission.reset_after,
    )


class Generator:
    """Streams through the router, calibrates the token estimate, and counts usage."""

    def __init__(
        self,
        stores: Stores,
        router: ModelRouter,
        limits: LimitGate,
        config: ChatConfig,
        estimator: TokenEstimator,
        clock: Callable[[], datetime],
    ) -> None:
        self._stores = stores
        self._router = router
        self._limits = limits
        self._config = config
        self._estimator = estimator
        self._clock = clock

    def request(self, run: Run, msg: IncomingMessage) -> ChatRequest:
        """The backend request for `run.sent`, with the message's pass-through options."""
        passthrough = msg.passthrough
        return ChatRequest(
            model=run.model,
            messages=run.sent,
            options=msg.options,
            keep_alive=passthrough.get("keep_alive", self._config.keep_alive),
            format=passthrough.get("format"),
            think=passthrough.get("think"),
            tools=passthrough.get("tools"),
            completion=passthrough.get("completion"),
            prompt_estimate=self._estimator.count(run.model, run.sent),
        )

    async def generate(
        self, ctx: RouteContext, run: Run, msg: IncomingMessage, emit: Emit
    ) -> ReplyEvent:
        """Stream the reply; returns the final event (Done, or Failed for a backend error).

        Raises `ContextOverflow` (before anything was streamed) when the request does not fit
        the model's context window, so the caller can trim and retry or refuse.
        """
        request = self.request(run, msg)
        try:
            await self._stream(ctx, request, run, emit)
        except ContextOverflow as exc:
            if exc.prompt_tokens:  # the server counted the prompt: learn its tokenizer
                self._estimator.observe(request.model, request.messages, exc.prompt_tokens)
            raise
        except BackendError as exc:
            return backend_failed(exc, run.text, run.model)
        if run.metrics is None:
            return Failed(UNFINISHED, run.text, model=run.model)
        self._estimator.observe(request.model, request.messages, run.metrics.prompt_tokens)
        run.metrics = self._complete(run.metrics, run, request.prompt_estimate)
        return Done(run.text, run.model, run.backend, run.metrics, run.final)

    def _complete(self, metrics: Metrics, run: Run, prompt_estimate: int) -> Metrics:
        """`metrics` with the hub's estimates for the token counts the server did not send."""
        prompt, completion = metrics.prompt_tokens, metrics.completion_tokens
        if prompt and (completion or not run.text):
            return metrics
        return replace(
            metrics,
            prompt_tokens=prompt or prompt_estimate,
            completion_tokens=completion or self._completion_estimate(run),
            estimated=True,
        )

    def _completion_estimate(self, run: Run) -> int:
        return int(len(run.text) / self._estimator.ratio(run.model)) + 1 if run.text else 0

    async def _stream(self, ctx: RouteContext, request: ChatRequest, run: Run, emit: Emit) -> None:
        stream = self._router.stream(ctx, request)
        try:
            async for item in stream:
                if isinstance(item, Delta):
                    if item.text:
                        run.parts.append(item.text)
                        emit(Text(item.text))
                    if item.extra:
                        emit(Extra(item.extra))
                    await emit.room()  # backpressure: a slow reader pauses the upstream read
                elif isinstance(item, Final):
                    run.metrics, run.final = item.metrics, item.extra
                elif isinstance(item, Started):
                    run.model, run.backend = item.model, item.backend
                    emit(item)
                elif isinstance(item, Queued):
                    emit(item)
        finally:
            # Closing the router's stream closes the upstream request, so the GPU stops too.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    async def count_usage(self, user: User, run: Run) -> None:
        """Count the reply's tokens: the server's counts, else the hub's estimate (also for a
        reply cut short: it used the GPU too), marked as estimated."""
        if run.metrics is not None:
            prompt, completion = run.metrics.prompt_tokens, run.metrics.completion_tokens
            estimated = prompt + completion if run.metrics.estimated else 0
        elif run.parts:
            prompt = self._estimator.count(run.model, run.sent)
            completion = self._completion_estimate(run)
            estimated = prompt + completion
        else:
            return
        day = self._clock().date().isoformat()  # YYYY-MM-DD, the usage key's day
        try:
            await self._limits.record_usage(user, run.model, prompt, completion)
            await self._stores.usage.add(
                user.id,
                run.model,
                day,
                prompt_tokens=prompt,
                completion_tokens=completion,
                estimated_tokens=estimated,
            )
        except StoreError as exc:
            log.error("could not count usage", extra={"user": user.id, "error": str(exc)})
