"""A third-party connector (tests/plugins/echo_connector, outside hub/) installed as a real
distribution would be, enabled and configured from the environment, YAML and `.env`, through
real `chathub` processes; a bad key or value refused with one line."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hub.connectors.plugin import discover_plugins
from tests.e2e.test_serve import hub_env, run_cli, start_serve, stop

# The directory holding echo_connector/ and its echo_connector-0.1.0.dist-info/.
PLUGINS = str(Path(__file__).resolve().parents[1] / "plugins")


def with_plugin(env: dict[str, str]) -> dict[str, str]:
    return {**env, "PYTHONPATH": PLUGINS}


def ask_echo(base: str, text: str) -> str:
    answer = httpx.post(f"{base}/echo/messages", json={"user": "ada", "text": text}, timeout=30)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["reply"])


@pytest.mark.parametrize("source", ["environment", "yaml", "dotenv"])
def test_the_example_plugin_is_enabled_and_configured(
    tmp_path: Path, fake_ollama_url: str, source: str
) -> None:
    env = with_plugin(hub_env(tmp_path, HUB_OLLAMA_URL=fake_ollama_url))
    cwd = tmp_path  # hub_env's processes run from the data dir's parent
    if source == "environment":
        env.update(HUB_ECHO__ENABLED="true", HUB_ECHO__PREFIX="env> ")
    elif source == "yaml":
        config = tmp_path / "hub.yaml"
        config.write_text("echo:\n  enabled: true\n  prefix: 'yaml> '\n", encoding="utf-8")
        env["HUB_CONFIG"] = str(config)
    else:
        (cwd / ".env").write_text(
            "COMPOSE_PROJECT_NAME=chat\nHUB_ECHO__ENABLED=true\nHUB_ECHO__PREFIX='dotenv> '\n",
            encoding="utf-8",
        )
    served = start_serve(env)
    try:
        prefix = {"environment": "env> ", "yaml": "yaml> ", "dotenv": "dotenv> "}[source]
        reply = ask_echo(served.base, "hello")
        assert reply.startswith(prefix) and len(reply) > len(prefix)
        ready = httpx.get(f"{served.base}/ready", timeout=5).json()
        assert ready["checks"]["connector echo"] == {
            "ok": True,
            "detail": f"replies prefixed {prefix!r}",
        }
    finally:
        code, out = stop(served)
    assert code == 0, out
    assert "connector started connector=echo" in out


def test_the_example_plugin_is_off_by_default(tmp_path: Path, fake_ollama_url: str) -> None:
    served = start_serve(with_plugin(hub_env(tmp_path, HUB_OLLAMA_URL=fake_ollama_url)))
    try:
        assert httpx.post(f"{served.base}/echo/messages", json={"text": "x"}).status_code == 404
        assert "connector echo" not in httpx.get(f"{served.base}/ready").json()["checks"]
    finally:
        stop(served)


@pytest.mark.parametrize(
    ("source", "setting", "expected"),
    [
        (
            "environment",
            "HUB_ECHO__COLOUR=red",
            "chathub: HUB_ECHO__COLOUR: unknown setting",
        ),
        (
            "environment",
            "HUB_ECHO__MAX_CHARS=lots",
            "chathub: HUB_ECHO__MAX_CHARS: Input should be a valid integer",
        ),
        ("environment", "HUB_ECHO__MAX_CHARS=0", "chathub: HUB_ECHO__MAX_CHARS: "),
        ("yaml", "echo:\n  colour: red\n", "chathub: echo.colour (in HUB_CONFIG): unknown setting"),
        (
            "yaml",
            "echo:\n  prefixx: '> '\n",
            "chathub: echo.prefixx (in HUB_CONFIG): unknown setting; did you mean echo.prefix?",
        ),
        ("dotenv", "HUB_ECHO__COLOUR=red", "chathub: HUB_ECHO__COLOUR (in .env): unknown setting"),
    ],
)
def test_a_bad_plugin_setting_stops_start_up_with_one_line(
    tmp_path: Path, source: str, setting: str, expected: str
) -> None:
    env = with_plugin(hub_env(tmp_path))
    if source == "environment":
        name, _, value = setting.partition("=")
        env[name] = value
    elif source == "yaml":
        config = tmp_path / "hub.yaml"
        config.write_text(setting, encoding="utf-8")
        env["HUB_CONFIG"] = str(config)
    else:
        (tmp_path / ".env").write_text(setting + "\n", encoding="utf-8")
    result = run_cli("serve", env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(expected)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_settings_of_a_plugin_that_is_not_installed_are_refused(tmp_path: Path) -> None:
    result = run_cli("serve", env=hub_env(tmp_path, HUB_ECHO__ENABLED="true"))
    assert result.returncode == 2
    installed = ", ".join(sorted(p.name for p in discover_plugins()))
    assert result.stderr == (
        "chathub: HUB_ECHO__ENABLED: unknown setting; no `echo` connector is installed "
        f"(installed connectors: {installed}), so it has no settings\n"
    )
