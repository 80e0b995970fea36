"""Recognising a model server's "the prompt does not fit the context window" answers.

Each server words it its own way, and most state the window (and often the prompt's size), which
is how the hub learns the window of a server that reports it nowhere else:

- OpenAI, vLLM (older), llama-cpp-python (non-streaming): "This model's maximum context length
  is 512 tokens. However, you requested 600 tokens (…)"
- vLLM: "This model's maximum context length is 512 tokens. However, your request has 600 input
  tokens. Please reduce the length of the input messages."
- llama-cpp-python (its log, and the error text of its Python API): "Requested tokens (528)
  exceed context window of 512"
- llama.cpp's llama-server: "request (600 tokens) exceeds the available context size (512
  tokens), try increasing it", with `type: exceed_context_size_error`, `n_prompt_tokens`, `n_ctx`
- LM Studio: "Trying to keep the first 600 tokens when context the overflows. However, the model
  is loaded with context length of only 512 tokens, which is not enough. …"
- others that say it without numbers: "context_length_exceeded", "context length exceeded",
  "exceeds the context length"…
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hub.core.ports import ContextOverflow

# (pattern, group of the window, group of the prompt's tokens or 0)
_STATED: tuple[tuple[re.Pattern[str], int, int], ...] = (
    (re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)", re.I), 2, 1),
    (
        re.compile(
            r"request \((\d+) tokens\) exceeds (?:the available )?context size \((\d+) tokens\)",
            re.I,
        ),
        2,
        1,
    ),
    (
        re.compile(
            r"keep the first (\d+) tokens when context the overflows.*?"
            r"context length of only (\d+) tokens",
            re.I | re.S,
        ),
        2,
        1,
    ),
    (
        re.compile(
            r"maximum context length is (\d+) tokens.*?"
            r"(?:\((\d+) in the messages|\((\d+) in your prompt|your request has (\d+) input)",
            re.I | re.S,
        ),
        1,
        0,
    ),
    (re.compile(r"maximum context length is (\d+) tokens", re.I), 1, 0),
)
_VAGUE = re.compile(
    r"context_length_exceeded|exceed_context_size_error|context length exceeded|"
    r"exceeds? the (?:available )?context (?:length|size|window)|"
    r"input length exceeds the context length|context window (?:is )?(?:full|exceeded)",
    re.I,
)


def overflow_in(text: str, data: Mapping[str, Any] | None = None) -> ContextOverflow | None:
    """The overflow `text` (a server's error message) reports, or None if it is another error.

    `data` is the error object when the server sent one: llama-server puts the window and the
    prompt's size in `n_ctx` and `n_prompt_tokens` beside its message.
    """
    window = prompt = None
    for pattern, window_group, prompt_group in _STATED:
        match = pattern.search(text)
        if match is None:
            continue
        window = int(match.group(window_group))
        if prompt_group:
            prompt = int(match.group(prompt_group))
        else:  # "(N in the messages", "(N in your prompt" or "your request has N input"
            counts = [g for g in match.groups()[1:] if g]
            prompt = int(counts[0]) if counts else None
        break
    if data is not None:
        if isinstance(n_ctx := data.get("n_ctx"), int) and n_ctx > 0:
            window = n_ctx
        if isinstance(n_prompt := data.get("n_prompt_tokens"), int) and n_prompt > 0:
            prompt = n_prompt
        if window is None and data.get("type") == "exceed_context_size_error":
            return ContextOverflow(text, prompt_tokens=prompt)
    if window is None:
        return ContextOverflow(text) if _VAGUE.search(text) else None
    return ContextOverflow(text, window=window, prompt_tokens=prompt)


def error_object(body: Any) -> Mapping[str, Any] | None:
    """The error object of an error body: `{"error": {...}}`, or the body itself."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    return error if isinstance(error, Mapping) else body
