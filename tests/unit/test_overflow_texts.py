"""Servers' context-overflow answers, as each words them (hub/core/backends/overflow.py)."""

from __future__ import annotations

import pytest

from hub.core.backends.overflow import overflow_in
from tests.fakes.openai_flavours import FLAVOURS, Flavour, FlavourName


@pytest.mark.parametrize("name", FLAVOURS)
def test_each_servers_overflow_states_window_and_prompt(name: FlavourName) -> None:
    flavour = Flavour(name)
    error = flavour.overflow_error(700, 512)["error"]
    found = overflow_in(flavour.overflow_message(700, 512), error)
    assert found is not None and found.kind == "overflow"
    assert (found.window, found.prompt_tokens) == (512, 700)


@pytest.mark.parametrize(
    ("text", "window", "prompt"),
    [
        ("Requested tokens (528) exceed context window of 512", 512, 528),
        (
            "This model's maximum context length is 8192 tokens. However, you requested 9100 "
            "tokens (9000 in the messages, 100 in the completion).",
            8192,
            9000,
        ),
        ("This model's maximum context length is 4096 tokens.", 4096, None),
        ("request (600 tokens) exceeds context size (512 tokens)", 512, 600),
    ],
)
def test_stated_windows(text: str, window: int, prompt: int | None) -> None:
    found = overflow_in(text)
    assert found is not None and (found.window, found.prompt_tokens) == (window, prompt)


def test_overflows_that_state_no_window_and_other_errors() -> None:
    vague = overflow_in("Error: context_length_exceeded")
    assert vague is not None and vague.window is None
    typed = overflow_in("too long", {"type": "exceed_context_size_error", "n_prompt_tokens": 9})
    assert typed is not None and typed.prompt_tokens == 9
    assert overflow_in("CUDA error: out of memory") is None
    assert overflow_in("model 'x' not found") is None
