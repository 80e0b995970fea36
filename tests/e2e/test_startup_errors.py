"""Configuration mistakes an admin makes, each through a real `chathub` process: one line on
stderr naming the setting, exit 2 (configuration) or 1 (a dependency down), never a traceback."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import free_port, hub_env, run_cli, start_serve, stop
from tests.fakes.process import fake_process
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
GOOD_TOKEN = FakeTelegram().token  # the one the fake Bot API accepts
WRONG_TOKEN = "999000:WrongTokenWellFormed_abc"


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stderr.startswith("chathub: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return result.stderr.strip()


@pytest.fixture
def fake_telegram_base() -> Iterator[str]:
    """The fake Bot API as its own process; its `base_url` in python-telegram-bot's form."""
    with fake_process("tests.fakes.telegram") as url:
        yield f"{url}/bot"


def documented_config() -> str:
    """The YAML example of docs/configuration.md, as a user would copy it."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_the_documented_config_with_seed_prompts_starts(
    tmp_path: Path, fake_ollama_url: str
) -> None:
    # Reported: every start with the `prompts:` seed list died with "Attempt to overwrite
    # 'created' in LogRecord" (exit 1).
    example = documented_config()
    assert "prompts:" in example and "gpu-box" in example
    config = tmp_path / "hub.yaml"
    config.write_text(example.replace("http://gpu-box:11434", fake_ollama_url), encoding="utf-8")
    served = start_serve(hub_env(tmp_path, HUB_CONFIG=str(config)))
    try:
        assert httpx.get(f"{served.base}/ready", timeout=5).status_code == 200
    finally:
        code, out = stop(served)
    assert code == 0, out
    assert "prompts seeded" in out and "prompts_created=2" in out
    assert "Traceback" not in out and "LogRecord" not in out


def test_an_empty_telegram_token_means_off(tmp_path: Path, fake_ollama_url: str) -> None:
    # docker-compose.yml passes HUB_TELEGRAM__TOKEN='' when the variable is not set.
    env = hub_env(tmp_path, HUB_OLLAMA_URL=fake_ollama_url, HUB_TELEGRAM__TOKEN="")
    served = start_serve(env)
    try:
        checks = httpx.get(f"{served.base}/ready", timeout=5).json()["checks"]
        assert "connector telegram" not in checks
    finally:
        code, out = stop(served)
    assert code == 0 and "Traceback" not in out


@pytest.mark.parametrize("command", ["serve", "check"])
def test_a_malformed_telegram_token_is_a_setting_error(tmp_path: Path, command: str) -> None:
    token = "bot123456:AAE secret-part"
    line = one_line(run_cli(command, env=hub_env(tmp_path, HUB_TELEGRAM__TOKEN=token)), 2)
    assert line.startswith("chathub: HUB_TELEGRAM__TOKEN: is not a bot token")
    assert "secret-part" not in line


def test_a_refused_telegram_token_stops_start_up_with_one_line(
    tmp_path: Path, fake_ollama_url: str, fake_telegram_base: str
) -> None:
    env = hub_env(
        tmp_path,
        HUB_OLLAMA_URL=fake_ollama_url,
        HUB_TELEGRAM__TOKEN=WRONG_TOKEN,
        HUB_TELEGRAM__BASE_URL=fake_telegram_base,
        HUB_PORT=str(free_port()),
    )
    result = run_cli("serve", env=env)
    line = one_line(result, 2)
    assert line.startswith("chathub: Telegram refused HUB_TELEGRAM__TOKEN (401 Unauthorized)")
    assert WRONG_TOKEN.split(":")[1] not in result.stderr + result.stdout


def test_a_refused_token_leaves_the_rest_running_when_not_required(
    tmp_path: Path, fake_ollama_url: str, fake_telegram_base: str
) -> None:
    env = hub_env(
        tmp_path,
        HUB_OLLAMA_URL=fake_ollama_url,
        HUB_TELEGRAM__TOKEN=WRONG_TOKEN,
        HUB_TELEGRAM__BASE_URL=fake_telegram_base,
        HUB_TELEGRAM__REQUIRED="false",
    )
    served = start_serve(env)
    try:
        ready = httpx.get(f"{served.base}/ready", timeout=5)
        assert ready.status_code == 200  # the HTTP side serves: Open WebUI keeps working
        telegram = ready.json()["checks"]["connector telegram"]
        assert telegram["ok"] is False
        assert telegram["detail"].startswith("Telegram refused HUB_TELEGRAM__TOKEN")
        tags = httpx.get(f"{served.base}/ollama/api/tags", timeout=5)
        assert tags.status_code in (200, 401)  # routes are up (401: no key given)
    finally:
        code, out = stop(served)
    assert code == 0, out
    assert "connector not started" in out and "Traceback" not in out
    assert WRONG_TOKEN.split(":")[1] not in out


def test_an_unreachable_telegram_is_a_dependency_down(tmp_path: Path) -> None:
    env = hub_env(
        tmp_path,
        HUB_TELEGRAM__TOKEN=GOOD_TOKEN,
        HUB_TELEGRAM__BASE_URL=f"http://127.0.0.1:{free_port()}/bot",
        HUB_PORT=str(free_port()),
    )
    line = one_line(run_cli("serve", env=env), 1)
    assert line.startswith("chathub: Telegram did not answer at http://127.0.0.1:")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HUB_PROT", "9000", "chathub: HUB_PROT: unknown setting; did you mean HUB_PORT?"),
        (
            "HUB_OLAMA_URL",
            "http://gpu:11434",
            "chathub: HUB_OLAMA_URL: unknown setting; did you mean HUB_OLLAMA_URL?",
        ),
        ("HUB_API_KEY", "k-1", "chathub: HUB_API_KEY: unknown setting; did you mean HUB_API_KEYS?"),
        (
            "HUB_MATRIX__TOKEN",
            "syt-1",
            "chathub: HUB_MATRIX__TOKEN: unknown setting; no `matrix` connector is installed",
        ),
    ],
)
def test_unknown_variables_are_refused(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    line = one_line(run_cli("serve", env=hub_env(tmp_path, **{name: value})), 2)
    assert line.startswith(expected)


def test_dotenv_of_docker_compose_is_read_and_its_other_lines_ignored(tmp_path: Path) -> None:
    env = hub_env(tmp_path)
    dotenv = tmp_path / ".env"
    dotenv.write_text("HUB_JWT_SECRET=abc\nHUB_API_KEY=k-1\n", encoding="utf-8")
    line = one_line(run_cli("check", env=env), 2)
    # Not "HUB_HUB_API_KEY", as the .env source used to say.
    assert line == "chathub: HUB_API_KEY (in .env): unknown setting; did you mean HUB_API_KEYS?"
    dotenv.write_text("COMPOSE_PROJECT_NAME=chat\nWEBUI_SECRET_KEY=x\nHUB_API_KEYS=k\n")
    assert "unknown setting" not in run_cli("check", env=env).stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"HUB_OLLAMA_URL": "htp://gpu:11434"}, "HUB_OLLAMA_URL: htp:// is not an HTTP scheme"),
        ({"HUB_OLLAMA_URL": "http://:11434"}, "HUB_OLLAMA_URL: names no host"),
        ({"HUB_REDIS_URL": "localhost:6379"}, "HUB_REDIS_URL: must start with redis://"),
        ({"HUB_MONGODB_URL": "http://mongo:27017"}, "HUB_MONGODB_URL: must start with mongodb://"),
        ({"HUB_TELEGRAM__BASE_URL": "ftp://x/bot"}, "HUB_TELEGRAM__BASE_URL: ftp:// is not"),
        ({"HUB_LOG_LEVEL": "verbose"}, "HUB_LOG_LEVEL: 'verbose' is not a log level"),
        ({"HUB_WEBUI_DIR": "/no/such/build"}, "HUB_WEBUI_DIR: /no/such/build does not exist"),
        ({"HUB_WEBUI_DIR": "/etc/hostname"}, "HUB_WEBUI_DIR: /etc/hostname is not a directory"),
    ],
)
def test_bad_values_give_one_line_each(
    tmp_path: Path, extra: dict[str, str], expected: str
) -> None:
    line = one_line(run_cli("serve", env=hub_env(tmp_path, **extra)), 2)
    assert line.startswith(f"chathub: {expected}")


def test_an_ollama_url_without_a_scheme_works_as_ollama_host_does(
    tmp_path: Path, fake_ollama_url: str
) -> None:
    bare = fake_ollama_url.removeprefix("http://")
    result = run_cli("check", env=hub_env(tmp_path, HUB_OLLAMA_URL=bare))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    backend ollama" in result.stdout


def test_help_names_the_exit_codes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(out.split())
    assert "2 a setting is invalid or credentials were refused" in flat
    assert "1 a dependency is down" in flat


def test_a_port_in_use_and_an_address_not_ours_are_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(run_cli("serve", env=hub_env(tmp_path, HUB_PORT=str(port))), 1)
    in_use = f"127.0.0.1:{port} is already in use by another process; stop it or set HUB_PORT"
    assert line == f"chathub: {in_use}"
    # TEST-NET-2: never an address of this machine.
    line = one_line(run_cli("serve", env=hub_env(tmp_path, HUB_HOST="198.51.100.7")), 2)
    assert line.startswith("chathub: HUB_HOST/HUB_PORT: cannot listen on 198.51.100.7:8000")
