"""The Discord plugin through real `chathub` processes and the fake Discord as its own process:
found by its entry point, configured from the environment and YAML, verified by `chathub
check`, started and stopped with `chathub serve`, refused tokens and bad settings in one line."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.test_serve import free_port, hub_env, run_cli, start_serve, stop
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_control import RemoteFake
from tests.fakes.process import fake_process

GOOD_TOKEN = FakeDiscord().token
WRONG_TOKEN = "MTIzNDU2.wrong.TokenThatDiscordRefuses"


@pytest.fixture
def discord_root() -> Iterator[str]:
    with fake_process("tests.fakes.discord", "--guilds", "1", "--channels", "1") as url:
        yield url


def discord_env(tmp_path: Path, root: str, token: str = GOOD_TOKEN, **extra: str) -> dict[str, str]:
    fake = RemoteFake(root)
    return hub_env(
        tmp_path,
        HUB_DISCORD__TOKEN=token,
        HUB_DISCORD__API_BASE=fake.api_base,
        HUB_DISCORD__GATEWAY_URL=fake.gateway_url,
        **extra,
    )


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip()


def test_check_verifies_the_token(tmp_path: Path, discord_root: str, fake_ollama_url: str) -> None:
    env = discord_env(tmp_path, discord_root, HUB_OLLAMA_URL=fake_ollama_url)
    result = run_cli("check", env=env)
    report = [line for line in result.stdout.splitlines() if "connector discord" in line]
    assert report and report[0].startswith("ok    connector discord: bot hub ("), result.stdout

    refused = run_cli("check", env=discord_env(tmp_path, discord_root, WRONG_TOKEN))
    assert refused.returncode == 1
    [line] = [ln for ln in refused.stdout.splitlines() if "connector discord" in ln]
    assert line.startswith("FAIL  connector discord: Discord refused HUB_DISCORD__TOKEN")
    assert WRONG_TOKEN not in refused.stdout + refused.stderr


def test_a_refused_token_stops_start_up_with_one_line(tmp_path: Path, discord_root: str) -> None:
    env = discord_env(tmp_path, discord_root, WRONG_TOKEN, HUB_PORT=str(free_port()))
    line = one_line(run_cli("serve", env=env), 2)
    assert line.startswith("chathub: Discord refused HUB_DISCORD__TOKEN (401 Unauthorized)")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HUB_DISCORD__GATEWAY_URL", "https://gw", "chathub: HUB_DISCORD__GATEWAY_URL: "),
        ("HUB_DISCORD__SHARD_COUNT", "0", "chathub: HUB_DISCORD__SHARD_COUNT: "),
        ("HUB_DISCORD__COLOUR", "red", "chathub: HUB_DISCORD__COLOUR: unknown setting"),
    ],
)
def test_bad_discord_settings_are_one_line(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    env = hub_env(tmp_path, HUB_DISCORD__TOKEN=GOOD_TOKEN, **{name: value})
    assert one_line(run_cli("serve", env=env), 2).startswith(expected)


async def answered(root: str, text: str) -> str:
    fake = RemoteFake(root)
    async with aiohttp.ClientSession() as session:
        state = await fake.state(session)
        guild = state["guilds"][0]
        user = next(u for u in guild["members"] if u != state["bot"]["id"])
        await fake.post(session, guild["channels"][0], user, text)
        for _ in range(300):
            state = await fake.state(session)
            mine = [m for m in state["messages"] if m["content"] and not m["components"]]
            bot_said = [m for m in mine if m["reference"]]
            if bot_said:
                return str(bot_said[0]["content"])
            await asyncio.sleep(0.1)
    raise AssertionError("the bot did not answer")


def test_serve_answers_on_discord_and_stops_cleanly(
    tmp_path: Path, discord_root: str, fake_ollama_url: str
) -> None:
    config = tmp_path / "chathub.yaml"
    config.write_text("discord:\n  chain_limit: 10\n  thread_channels: []\n", encoding="utf-8")
    env = discord_env(
        tmp_path, discord_root, HUB_OLLAMA_URL=fake_ollama_url, HUB_CONFIG=str(config)
    )
    served = start_serve(env)
    try:
        text = asyncio.run(answered(discord_root, "hello"))
        assert text  # the fake Ollama's reply, through the whole hub
    finally:
        code, out = stop(served)
    assert code == 0, out
    assert "connector started connector=discord" in out and "Traceback" not in out
    assert GOOD_TOKEN not in out
