"""User flows through `chathub chat` (real processes, the SQLite store, the fake Ollama).

Each `chathub chat` run is a fresh hub process, so what one run stores the next must find.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.connectors.test_console import chathub, hub_env
from tests.fakes.ollama import FakeOllama

MODELS = ["alpha:latest", "beta:1b"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama(MODELS) as server:
        yield server


async def test_model_choice_persists_across_restarts(tmp_path: Path, fake: FakeOllama) -> None:
    env = hub_env(fake, tmp_path)
    code, out, err = await chathub(env, "chat", "--once", "/model beta:1b")
    assert code == 0, err
    assert "beta:1b" in out

    code, out, err = await chathub(env, "chat", "--once", "/model")
    assert code == 0, err
    assert "beta:1b" in out

    code, out, err = await chathub(env, "chat", "--once", "which model?")
    assert code == 0, err
    assert fake.chat_requests[-1].json["model"] == "beta:1b"


async def test_prompt_commands_managed_and_used_from_chat(tmp_path: Path, fake: FakeOllama) -> None:
    env = hub_env(fake, tmp_path)
    fake.script("alpha:latest", tokens=["Sure."])
    session = (
        b"/prompt add summarize Summarize | Summarize this for {{USER_NAME}}: {{INPUT}}\n"
        b"/prompt add summarize Again | dup\n"
        b"/summarize the {{CURRENT_DATE}} meeting ran long\n"
        b"/prompt edit summarize Short | In one line: {{INPUT}}\n"
        b"/summarize second text\n"
    )
    code, out, err = await chathub(env, "chat", stdin=session)
    assert code == 0, err
    assert "/summarize already exists; use /prompt edit" in out
    sent = [r.json["messages"][-1]["content"] for r in fake.chat_requests]
    # Single pass: the user's literal {{CURRENT_DATE}} is not expanded.
    assert sent[0].startswith("Summarize this for ")
    assert sent[0].endswith(": the {{CURRENT_DATE}} meeting ran long")
    assert sent[1] == "In one line: second text"

    code, out, err = await chathub(env, "chat", "--once", "/prompts")
    assert code == 0, err
    assert "/summarize" in out and "Short" in out

    code, out, err = await chathub(env, "chat", "--once", "/prompt rm summarize")
    assert code == 0, err
    code, out, err = await chathub(env, "chat", "--once", "/summarize x")
    assert code == 0, err
    assert "Unknown command /summarize" in out
    assert len(fake.chat_requests) == 2
