"""A ChatService stand-in for connector tests: scripted, paced replies and a working stop().

It honours the contract connectors rely on: `reply(msg)` yields Started, Text deltas and Done;
`stop(key)` ends the running reply of that conversation with Failed(code="cancelled").
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from hub.core.models import (
    ConversationKey,
    Done,
    Failed,
    IncomingMessage,
    ReplyEvent,
    Started,
    Text,
)


def tokens_of(text: str) -> list[str]:
    """Word-sized tokens (a word with the whitespace after it), like a model's deltas."""
    return re.findall(r"\s+|\S+\s*", text)


@dataclass
class ScriptedChat:
    answer: Callable[[IncomingMessage], str]
    tokens_per_second: float = 400.0
    received: list[IncomingMessage] = field(default_factory=list)
    finished: int = 0
    cancelled: int = 0
    _stops: dict[ConversationKey, asyncio.Event] = field(default_factory=dict)

    def reply(self, msg: IncomingMessage) -> AsyncIterator[ReplyEvent]:
        return self._reply(msg)

    async def _reply(self, msg: IncomingMessage) -> AsyncIterator[ReplyEvent]:
        self.received.append(msg)
        stop = self._stops[msg.key] = asyncio.Event()
        sent = ""
        try:
            yield Started(model="scripted", backend="test")
            for token in tokens_of(self.answer(msg)):
                try:
                    await asyncio.wait_for(stop.wait(), 1.0 / self.tokens_per_second)
                except TimeoutError:
                    sent += token
                    yield Text(token)
                    continue
                self.cancelled += 1
                yield Failed(reason="Stopped.", partial_text=sent, code="cancelled")
                return
            yield Done(text=sent, model="scripted", backend="test")
        finally:
            self._stops.pop(msg.key, None)
            self.finished += 1

    async def stop(self, key: ConversationKey) -> bool:
        event = self._stops.get(key)
        if event is None or event.is_set():
            return False
        event.set()
        return True
