"""What the hub knows about each model's context window on each backend, and where it came from.

In order of precedence: the YAML (`routing.backends[].context_window`, `…models.<name>`), the
window an overflow error stated, what the server reports (Ollama `/api/show`, llama.cpp `/props`,
vLLM and LM Studio model lists). Below all of them sits a learned upper bound: a stream that
dropped before its first token right after a prompt larger than any that had worked says the
window is smaller than that prompt (llama-cpp-python reports its window nowhere and answers an
overflow that way). The bound is in the hub's estimated tokens, the unit trimming counts in, and
is forgotten only when a clearly larger prompt gets an answer after all: estimates of different
texts are not equally accurate, so a prompt a little over the bound may fit while the next one,
estimated smaller, does not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hub.core.backends.ollama import context_length
from hub.core.ports import ChatBackend, ContextOverflow, ModelInfo, ReportsContextWindows
from hub.core.routing.state import BackendState, Target, canonical
from hub.core.routing_config import MIN_CONTEXT_WINDOW

log = logging.getLogger(__name__)

# A drop after a prompt smaller than this says nothing about the window: no model has less.
MIN_DROPPED_PROMPT = MIN_CONTEXT_WINDOW
# A bound is dropped when a prompt this much larger is answered.
BOUND_DISPROVED = 1.25


@dataclass
class WindowFacts:
    """One model on one backend. Token counts are the server's, except `below` and
    `largest_ok`, which are the hub's estimates."""

    reported: int | None = None
    stated: int | None = None
    below: int | None = None
    largest_ok: int = 0

    def window(self) -> int | None:
        known = self.stated or self.reported
        if self.below is None:
            return known
        bound = self.below - 1
        return bound if known is None else min(known, bound)


class ContextWindows:
    """Context windows per backend and model, and when each backend's were last asked."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._facts: dict[tuple[int, str], WindowFacts] = {}
        self._asked: dict[int, float] = {}  # backend index -> when its windows were read

    def _of(self, state: BackendState, model: str) -> WindowFacts:
        return self._facts.setdefault((state.index, canonical(model)), WindowFacts())

    def window(self, target: Target) -> int | None:
        """The window to trim to for `target`, or None when nothing is known."""
        configured = target.state.config.configured_window(target.model)
        if configured is not None:
            return configured
        facts = self._facts.get((target.state.index, canonical(target.model)))
        return facts.window() if facts is not None else None

    def due(self, state: BackendState) -> bool:
        """Whether `state`'s reported windows should be read (again)."""
        asked = self._asked.get(state.index)
        return asked is None or self._clock() - asked >= self._ttl

    def reported(self, state: BackendState, windows: Mapping[str, int]) -> None:
        """Record what the server said about its models' windows."""
        self._asked[state.index] = self._clock()
        for model, window in windows.items():
            self._of(state, model).reported = window

    def answered(self, target: Target, prompt_estimate: int) -> None:
        """A prompt of `prompt_estimate` tokens got its first token: the window holds it."""
        facts = self._of(target.state, target.model)
        facts.largest_ok = max(facts.largest_ok, prompt_estimate)
        if facts.below is not None and prompt_estimate >= facts.below * BOUND_DISPROVED:
            facts.below = None  # that bound was wrong (the drop was something else)

    def overflowed(self, target: Target, overflow: ContextOverflow) -> None:
        """Remember what an overflow told about the window."""
        facts = self._of(target.state, target.model)
        if overflow.window is not None:
            facts.stated = overflow.window
        if overflow.below is not None:
            facts.below = min(facts.below or overflow.below, overflow.below)
        log.info(
            "context window learned from an overflow",
            extra={"target": target.label, "window": overflow.window, "below": overflow.below},
        )

    def dropped(self, target: Target, prompt_estimate: int) -> ContextOverflow | None:
        """The overflow a stream dropped before its first token most likely was, or None when
        the drop says nothing about the window and so counts as a failure of the backend: the
        prompt was small, or under half the known window (or of the largest prompt answered,
        when no window is known). Half, because estimates are rough: a prompt estimated a bit
        smaller than one that worked may still be the larger one for the server."""
        if prompt_estimate < MIN_DROPPED_PROMPT:
            return None
        known = self.window(target)
        if known is not None and prompt_estimate > known:
            return ContextOverflow(dropped_reason(target), window=known)
        facts = self._of(target.state, target.model)
        reference = known if known is not None else facts.largest_ok
        if prompt_estimate <= reference // 2:
            return None
        return ContextOverflow(dropped_reason(target), below=prompt_estimate)


async def read_windows(backend: ChatBackend, models: Sequence[ModelInfo]) -> Mapping[str, int]:
    """What `backend` reports about its models' windows: its own way if it has one, else
    from each model's `show()` body (`num_ctx`, else the model's context length)."""
    if isinstance(backend, ReportsContextWindows):
        return await backend.context_windows(models)
    windows: dict[str, int] = {}
    for model in models:
        if (window := context_length(await backend.show(model.name))) is not None:
            windows[model.name] = window
    return windows


def dropped_reason(target: Target) -> str:
    return (
        f"{target.state.name} dropped the request before answering; the prompt is most likely "
        f"too long for {target.model}'s context window."
    )
