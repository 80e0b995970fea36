"""Advice in user-facing sentences, worded for the surface that shows it.

A chat user can send `/stop` or `/models`; an HTTP client (Open WebUI, an Ollama or OpenAI
library) cannot. Sentences that give such advice take it from here, in its chat wording; the
pipeline rewords every event bound for an HTTP client (`for_http`), so the advice there names
what that client can do instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hub.core.models import Failed, Notice, ReplyEvent
from hub.core.reply_channel import Emit


@dataclass(frozen=True, slots=True)
class Advice:
    """One piece of advice: `chat` as it appears in sentences, `http` what replaces it."""

    chat: str
    http: str


SEE_MODELS = Advice(
    "Send /models to see the models you can use.",
    "GET /ollama/api/tags (or /ollama/v1/models) lists the models you can use.",
)
WAIT_OR_STOP_ONE = Advice("wait for it to finish or send /stop", "wait for it to finish")
WAIT_OR_STOP_MANY = Advice("wait for one to finish or send /stop", "wait for one to finish")
CHOOSE_VISION = Advice(
    "Choose a model that can with /model NAME (/models lists them)",
    "Ask for a model that can see images",
)

ADVICE: tuple[Advice, ...] = (SEE_MODELS, WAIT_OR_STOP_ONE, WAIT_OR_STOP_MANY, CHOOSE_VISION)


def http_text(text: str) -> str:
    """`text` with every chat-only piece of advice replaced by its HTTP wording."""
    for advice in ADVICE:
        if advice.chat in text:
            text = text.replace(advice.chat, advice.http)
    return text


def for_http(event: ReplyEvent | None) -> ReplyEvent | None:
    """A reply event as an HTTP client should see it."""
    if isinstance(event, Failed):
        reason = http_text(event.reason)
        return event if reason == event.reason else dataclasses.replace(event, reason=reason)
    if isinstance(event, Notice):
        text = http_text(event.text)
        return event if text == event.text else dataclasses.replace(event, text=text)
    return event


class HttpWorded:
    """An `Emit` that rewords each event for an HTTP client on the way."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit

    def __call__(self, event: ReplyEvent | None, /) -> None:
        self._emit(for_http(event))

    async def room(self) -> None:
        await self._emit.room()
