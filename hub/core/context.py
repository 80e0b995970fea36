"""Fitting conversation history into a model's context window.

Tokens are estimated from characters. The start ratio (`ChatConfig.chars_per_token`, 3.0 by
default) is deliberately low: English text runs about 4 characters per token in common
tokenizers, so 3.0 over-counts tokens and trims a little early rather than letting the server cut
the prompt silently. After each reply the backend reports `prompt_eval_count`, the real number of
prompt tokens; `TokenEstimator.observe` moves the model's ratio towards what was measured (an
exponential moving average) but never uses a ratio above the latest observation, so a model whose
tokenizer is denser than assumed is corrected at once while a sparser one is trusted only slowly.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from hub.core.models import ChatMessage

# Chat templates wrap every message in role markers; Ollama's common templates spend about this
# many tokens per message on them.
MESSAGE_OVERHEAD_TOKENS = 4
# How fast a model's ratio follows new observations (weight of the newest one).
EMA_WEIGHT = 0.3
# Prompts shorter than this say little about the tokenizer (the template dominates).
MIN_CALIBRATION_CHARS = 200
# Ollama reports only the tokens it evaluated: when the start of a prompt was already in its
# cache, `prompt_eval_count` is smaller than the prompt and the ratio looks implausibly high.
# No real tokenizer averages more than this many characters per token on chat text.
MAX_PLAUSIBLE_RATIO = 6.0
MIN_RATIO = 0.5
MAX_TRACKED_MODELS = 256

TRIMMED_NOTICE = (
    "Older messages no longer fit the model's context and were left out. Send /new to start fresh."
)
# After a context overflow the retry's prompt may use at most this share of the prompt that
# overflowed (the estimate was evidently too low).
OVERFLOW_SHRINK = 0.75


class TokenEstimator:
    """Conservative, self-calibrating token counts per model."""

    def __init__(self, chars_per_token: float) -> None:
        self._default = chars_per_token
        # model -> (moving average, latest observation); bounded so odd model names can't grow it.
        self._ratios: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def ratio(self, model: str) -> float:
        """Characters per token to assume for `model`."""
        seen = self._ratios.get(model)
        if seen is None:
            return self._default
        average, latest = seen
        return min(average, latest)

    def count(self, model: str, messages: Sequence[ChatMessage]) -> int:
        """Estimated prompt tokens of `messages` for `model` (rounded up, with template cost)."""
        ratio = self.ratio(model)
        return sum(message_tokens(m, ratio) for m in messages)

    def observe(self, model: str, messages: Sequence[ChatMessage], prompt_tokens: int) -> None:
        """Learn from the real prompt token count the backend reported for `messages`."""
        chars = sum(len(m.content) for m in messages)
        text_tokens = prompt_tokens - MESSAGE_OVERHEAD_TOKENS * len(messages)
        if chars < MIN_CALIBRATION_CHARS or text_tokens <= 0:
            return
        observed = max(chars / text_tokens, MIN_RATIO)
        if observed > MAX_PLAUSIBLE_RATIO:
            return
        seen = self._ratios.pop(model, None)
        average = seen[0] if seen else self._default
        average = EMA_WEIGHT * observed + (1 - EMA_WEIGHT) * average
        self._ratios[model] = (average, observed)
        while len(self._ratios) > MAX_TRACKED_MODELS:
            self._ratios.popitem(last=False)


def prompt_budget(window: int, reply_reserve: int) -> int:
    """Tokens the prompt may use in a `window`-token context: what is left after keeping
    `reply_reserve` tokens for the reply, but never more than a quarter of a small window for
    it (a 512-token window would otherwise leave no room for any history at all)."""
    return max(window - min(reply_reserve, window // 4), 1)


def message_tokens(message: ChatMessage, ratio: float) -> int:
    """Estimated tokens of one message at `ratio` characters per token."""
    return MESSAGE_OVERHEAD_TOKENS + int(-(-len(message.content) // ratio))


@dataclass(frozen=True, slots=True)
class Trimmed:
    """The messages to send and how many history messages were left out."""

    messages: tuple[ChatMessage, ...]
    dropped: int
    estimated_tokens: int


def trim_history(
    system: Sequence[ChatMessage],
    history: Sequence[ChatMessage],
    current: ChatMessage,
    budget: int,
    ratio: float,
) -> Trimmed:
    """Keep the system messages, the current message and as many of the newest turns as fit.

    The current message is always sent, even alone over budget: the model may still answer, and
    refusing would leave the user with nothing. A kept history never starts with an assistant
    turn whose question was dropped.
    """
    used = sum(message_tokens(m, ratio) for m in system) + message_tokens(current, ratio)
    start = len(history)
    while start > 0:
        cost = message_tokens(history[start - 1], ratio)
        if used + cost > budget:
            break
        used += cost
        start -= 1
    while start < len(history) and start > 0 and history[start].role == "assistant":
        used -= message_tokens(history[start], ratio)
        start += 1
    kept = tuple(history[start:])
    return Trimmed((*system, *kept, current), start, used)


class NoticeMemory:
    """Conversations already told that old turns were dropped (bounded, oldest forgotten)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def first_time(self, conversation_id: str) -> bool:
        """True the first time `conversation_id` is passed, False afterwards."""
        if conversation_id in self._seen:
            self._seen.move_to_end(conversation_id)
            return False
        self._seen[conversation_id] = None
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True
