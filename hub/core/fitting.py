"""Fitting a stored conversation into the model's context window, and what to do when the model
says it still does not fit: trim harder (to the window it stated, and to less than what
overflowed) and try once more, telling the user once that older messages were left out."""

from __future__ import annotations

from dataclasses import dataclass

from hub.core.chat_config import ChatConfig
from hub.core.context import (
    OVERFLOW_SHRINK,
    TRIMMED_NOTICE,
    NoticeMemory,
    TokenEstimator,
    prompt_budget,
    trim_history,
)
from hub.core.generation import Generator, Run, overflow_failed
from hub.core.models import ChatMessage, Failed, IncomingMessage, Notice, ReplyEvent, Turn
from hub.core.ports import ContextOverflow, ModelRouter, RouteContext
from hub.core.reply_channel import Emit


def past_messages(history: list[Turn]) -> list[ChatMessage]:
    """Stored turns as history to send: users' and the model's, a reply cut short before any
    text left out."""
    return [
        ChatMessage(t.role, t.text)
        for t in history
        if t.role in ("user", "assistant") and (t.text or not t.interrupted)
    ]


@dataclass(frozen=True, slots=True)
class Fitting:
    """One reply's material: its conversation, the history, the new message, where events go."""

    conversation_id: str
    past: list[ChatMessage]
    new: ChatMessage
    msg: IncomingMessage
    emit: Emit


class ContextFitter:
    """Chooses the messages that fit, and retries a reply once after a context overflow."""

    def __init__(
        self,
        router: ModelRouter,
        config: ChatConfig,
        estimator: TokenEstimator,
        generator: Generator,
    ) -> None:
        self._router = router
        self._config = config
        self._estimator = estimator
        self._generator = generator
        self._told = NoticeMemory()

    async def messages(
        self, fit: Fitting, model: str, cap: int | None = None
    ) -> tuple[ChatMessage, ...]:
        """The messages to send: system prompt, the newest turns that fit, the new message.

        `cap` bounds the prompt's estimated tokens further (after an overflow)."""
        prompt = self._config.system_prompt
        system = (ChatMessage("system", prompt),) if prompt else ()
        window = await self._router.context_window(model) or self._config.default_context_tokens
        num_ctx = fit.msg.options.get("num_ctx")
        if isinstance(num_ctx, int) and num_ctx > 0:
            window = min(window, num_ctx)
        budget = prompt_budget(window, self._config.reply_reserve_tokens)
        if cap is not None:
            budget = min(budget, cap)
        ratio = self._estimator.ratio(model)
        trimmed = trim_history(system, fit.past, fit.new, budget, ratio)
        if trimmed.dropped and self._told.first_time(fit.conversation_id):
            fit.emit(Notice(TRIMMED_NOTICE))
        return trimmed.messages

    async def generate(self, ctx: RouteContext, run: Run, fit: Fitting) -> ReplyEvent:
        """Generate `run.sent`; on an overflow, trim harder and try once more."""
        try:
            return await self._generator.generate(ctx, run, fit.msg, fit.emit)
        except ContextOverflow:
            overflowed = self._estimator.count(run.model, run.sent)  # recalibrated by now
            shorter = await self.messages(fit, run.model, int(overflowed * OVERFLOW_SHRINK))
            if len(shorter) < len(run.sent):
                run.sent = shorter
                try:
                    return await self._generator.generate(ctx, run, fit.msg, fit.emit)
                except ContextOverflow as again:
                    return await self._failed(again, run.model)
        # Only the new message (and the system prompt) is left, and it is still too long.
        return await self._failed(ContextOverflow(""), run.model)

    async def _failed(self, exc: ContextOverflow, model: str) -> Failed:
        window = await self._router.context_window(model)
        return overflow_failed(exc, model, window, chat=True)
