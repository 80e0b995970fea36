"""A message that continues one branch (`IncomingMessage.chain`, a Discord reply chain): the
branch is the history the model sees, instead of the stored conversation, while commands,
trimming and persistence still apply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from hub.core.backends import build_backend
from hub.core.chat_config import ChatConfig
from hub.core.context import TRIMMED_NOTICE
from hub.core.models import ChatMessage
from hub.core.router import Router
from hub.core.routing_config import BackendConfig, RoutingConfig
from tests.fakes.ollama import FakeOllama
from tests.unit.pipeline_kit import collect, done, message, notices, pipeline

MODEL = "gemma3:270m"
OTHER = "llama3.2:1b"
BRANCH = (
    ChatMessage("user", "Ada: name a colour"),
    ChatMessage("assistant", "Teal."),
    ChatMessage("user", "Bob: and a fruit?"),
    ChatMessage("assistant", "Fig."),
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama([MODEL, OTHER]) as server:
        yield server


def router_for(url: str, config: ChatConfig) -> Router:
    backend_config = BackendConfig(name="ollama", url=url)
    routing = RoutingConfig(backends=[backend_config])
    return Router(routing, [build_backend(backend_config, config)], default_model=MODEL)


def sent(fake: FakeOllama) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in fake.chat_requests[-1].json["messages"]]


async def test_the_chain_replaces_the_stored_history_and_the_turns_are_stored(
    tmp_path: Path, fake: FakeOllama
) -> None:
    fake.script(MODEL, tokens=["ok"])
    router = router_for(fake.url, ChatConfig())
    await router.start()
    try:
        async with pipeline(tmp_path, router, system_prompt="Be brief.") as kit:
            done(await collect(kit.service, message("stored one")))
            branch = message("and a tree?", chain=BRANCH)
            done(await collect(kit.service, branch))
            assert sent(fake) == [
                ("system", "Be brief."),
                *((m.role, m.content) for m in BRANCH),
                ("user", "and a tree?"),
            ]  # the stored "stored one" is not in this branch
            turns = await kit.turns(branch)
            assert [(t.role, t.text) for t in turns][-2:] == [
                ("user", "and a tree?"),
                ("assistant", "ok"),
            ]
            done(await collect(kit.service, message("plain again")))
            assert ("user", "and a tree?") in sent(fake)  # stored like any other turn
    finally:
        await router.aclose()


async def test_commands_still_apply_to_a_message_in_a_chain(
    tmp_path: Path, fake: FakeOllama
) -> None:
    router = router_for(fake.url, ChatConfig())
    await router.start()
    try:
        async with pipeline(tmp_path, router) as kit:
            events = await collect(kit.service, message(f"/model {OTHER}", chain=BRANCH))
            assert any(OTHER in n for n in notices(events))
            assert not fake.chat_requests  # a command, answered by the hub
            fake.script(OTHER, tokens=["yes"])
            done(await collect(kit.service, message("go", chain=BRANCH)))
            assert fake.chat_requests[-1].json["model"] == OTHER
    finally:
        await router.aclose()


async def test_a_long_chain_is_trimmed_to_the_context_window(
    tmp_path: Path, fake: FakeOllama
) -> None:
    fake.script(MODEL, tokens=["ok"], context_length=600)
    config = ChatConfig(reply_reserve_tokens=100)
    long_branch = tuple(
        ChatMessage("user" if i % 2 == 0 else "assistant", f"message {i} " + "word " * 60)
        for i in range(30)
    )
    router = router_for(fake.url, config)
    await router.start()
    try:
        async with pipeline(tmp_path, router, reply_reserve_tokens=100) as kit:
            msg = replace(message("last"), chain=long_branch)
            events = await collect(kit.service, msg)
            done(events)
            assert TRIMMED_NOTICE in notices(events)
            contents = [c for _, c in sent(fake)]
            assert contents[-1] == "last" and len(contents) < len(long_branch)
            assert contents[-2].startswith("message 29")  # the newest of the branch kept
    finally:
        await router.aclose()
