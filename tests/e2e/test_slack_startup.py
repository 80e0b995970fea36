"""The Slack connector through a real `chathub` process against the fake Slack (its own
process): tokens Slack refuses stop start-up with one line, `chathub check` asks `auth.test`,
a running hub answers a mention over Socket Mode, and setting mistakes name the setting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import free_port, hub_env, run_cli, start_serve, stop
from tests.e2e.test_startup_errors import one_line
from tests.fakes.process import fake_process
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN

WRONG_BOT_TOKEN = "xoxb-9-wrong-but-well-formed"
WRONG_APP_TOKEN = "xapp-9-wrong-but-well-formed"


@pytest.fixture
def slack_root() -> Iterator[str]:
    with fake_process("tests.fakes.slack") as url:
        yield url


def slack_env(tmp_path: Path, root: str, **extra: str) -> dict[str, str]:
    values = {
        "HUB_SLACK__BOT_TOKEN": BOT_TOKEN,
        "HUB_SLACK__APP_TOKEN": APP_TOKEN,
        "HUB_SLACK__BASE_URL": f"{root}/api/",
        "HUB_PORT": str(free_port()),
        **extra,
    }
    return hub_env(tmp_path, **values)


@pytest.mark.parametrize(
    ("wrong", "named"),
    [
        ({"HUB_SLACK__BOT_TOKEN": WRONG_BOT_TOKEN}, "HUB_SLACK__BOT_TOKEN (invalid_auth)"),
        ({"HUB_SLACK__APP_TOKEN": WRONG_APP_TOKEN}, "HUB_SLACK__APP_TOKEN (invalid_auth)"),
    ],
)
def test_a_refused_token_stops_start_up_with_one_line(
    tmp_path: Path, fake_ollama_url: str, slack_root: str, wrong: dict[str, str], named: str
) -> None:
    env = slack_env(tmp_path, slack_root, HUB_OLLAMA_URL=fake_ollama_url, **wrong)
    result = run_cli("serve", env=env)
    line = one_line(result, 2)
    assert line.startswith(f"chathub: Slack refused {named}")
    assert "wrong-but-well-formed" not in result.stderr + result.stdout


def test_check_asks_slack_about_the_tokens(
    tmp_path: Path, fake_ollama_url: str, slack_root: str
) -> None:
    good = run_cli("check", env=slack_env(tmp_path, slack_root, HUB_OLLAMA_URL=fake_ollama_url))
    assert "ok    connector slack: bot @hubbot in Fake Workspace (Socket Mode)" in good.stdout
    env = slack_env(
        tmp_path, slack_root, HUB_OLLAMA_URL=fake_ollama_url, HUB_SLACK__BOT_TOKEN=WRONG_BOT_TOKEN
    )
    bad = run_cli("check", env=env)
    assert bad.returncode == 1
    line = next(x for x in bad.stdout.splitlines() if "connector slack" in x)
    assert line.startswith("FAIL  connector slack: Slack refused HUB_SLACK__BOT_TOKEN")


def test_an_unreachable_slack_is_a_dependency_down(tmp_path: Path) -> None:
    env = slack_env(tmp_path, f"http://127.0.0.1:{free_port()}")
    line = one_line(run_cli("serve", env=env), 1)
    assert line.startswith("chathub: Slack did not answer at http://127.0.0.1:")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"HUB_SLACK__BOT_TOKEN": "xoxp-a-user-token"}, "HUB_SLACK__BOT_TOKEN: is not a bot token"),
        ({"HUB_SLACK__APP_TOKEN": "xoxb-not-an-app"}, "HUB_SLACK__APP_TOKEN: is not an app-level"),
        ({"HUB_SLACK__APP_TOKEN": ""}, "HUB_SLACK__APP_TOKEN: required with HUB_SLACK__BOT_TOKEN"),
        ({"HUB_SLACK__COMMAND": "/ask me"}, "HUB_SLACK__COMMAND: is not a slash command name"),
        ({"HUB_SLACK__BASE_URL": "slack.com/api"}, "HUB_SLACK__BASE_URL: 'slack.com/api' has no"),
    ],
)
def test_setting_mistakes_give_one_line(
    tmp_path: Path, slack_root: str, extra: dict[str, str], expected: str
) -> None:
    line = one_line(run_cli("serve", env=slack_env(tmp_path, slack_root, **extra)), 2)
    assert line.startswith(f"chathub: {expected}")
    assert "a-user-token" not in line and "not-an-app" not in line


def test_serve_answers_a_mention_over_socket_mode(
    tmp_path: Path, fake_ollama_url: str, slack_root: str
) -> None:
    served = start_serve(slack_env(tmp_path, slack_root, HUB_OLLAMA_URL=fake_ollama_url))
    try:
        ready = httpx.get(f"{served.base}/ready", timeout=5).json()
        assert ready["checks"]["connector slack"]["ok"] is True
        sent = httpx.post(f"{slack_root}/_fake/event", json={"text": "hello"}, timeout=10).json()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = httpx.get(f"{slack_root}/_fake/state", timeout=5).json()
            replies = [m for m in state["messages"] if m["thread_ts"] == sent["ts"]]
            if replies and replies[0]["stream"] in (None, "stopped"):
                break
            time.sleep(0.2)
        assert replies and replies[0]["content"].strip(), state["calls"][-5:]
        assert state["enforced_429"] == 0
    finally:
        code, out = stop(served)
    assert code == 0, out
    assert "connector started connector=slack" in out
    assert BOT_TOKEN not in out and APP_TOKEN not in out
