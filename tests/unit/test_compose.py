"""docker-compose.yml as documented: parsed, interpolated the way compose does with the README's
`.env`, and the hub's own settings loader run on what the hub container would get."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.connectors.telegram.settings import TelegramSettings
from hub.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
HUB_ENV: dict[str, str] = SERVICES["hub"]["environment"]
WEBUI_ENV: dict[str, str] = SERVICES["open-webui"]["environment"]
# compose's forms: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}
REFERENCE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
# DESIGN.md's configuration table: names the Slack and Discord connectors will declare.
PLATFORM_SETTINGS = {
    "SLACK": ["BOT_TOKEN", "APP_TOKEN", "SIGNING_SECRET", "BASE_URL"],
    "DISCORD": ["TOKEN", "API_BASE", "GATEWAY_URL"],
}
ACCESS = [
    "ALLOW_USERS", "ALLOW_CHATS", "ADMINS", "REFUSAL", "REFUSAL_IN_PRIVATE", "REFUSAL_IN_GROUPS",
    "REQUIRED",
]  # fmt: skip


def interpolate(value: str, variables: dict[str, str]) -> str:
    """What compose substitutes for the references in `value` (or raises, as compose stops)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        found = variables.get(name)
        if op and op.endswith("?") and not found:
            raise LookupError(f"{name}: {arg}")
        if op and op.endswith("-") and not found:
            return arg
        return found or ""

    return REFERENCE.sub(one, value)


def readme_dotenv() -> dict[str, str]:
    """The `.env` the README tells a compose user to write (its printf line, values filled)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Docker compose") :]
    line = next(ln for ln in section.splitlines() if ln.startswith("printf "))
    names = re.findall(r"(?:'|\\n)([A-Z_]+)=%s", line)
    assert names, line
    return {name: f"value-of-{name.lower()}" for name in names}


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for needed, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, (name, needed)


def test_every_connector_setting_is_passed_through_empty_when_unset() -> None:
    telegram = [f.upper() for f in TelegramSettings.model_fields]
    expected = [f"HUB_TELEGRAM__{k}" for k in [*telegram, *ACCESS]]
    for platform, keys in PLATFORM_SETTINGS.items():
        expected += [f"HUB_{platform}__{k}" for k in [*keys, *ACCESS]]
    for name in expected:
        # Passed through as is, and empty when unset (the hub reads empty as "not set").
        assert HUB_ENV.get(name) == f"${{{name}:-}}", name
    assert interpolate(HUB_ENV["HUB_TELEGRAM__TOKEN"], {}) == ""


def test_the_config_file_is_mounted_and_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    target = HUB_ENV["HUB_CONFIG"]
    mounts = [v.split(":") for v in SERVICES["hub"]["volumes"] if v.startswith("./")]
    [(source, _, mode)] = [m for m in mounts if m[1] == target]
    assert mode == "ro"
    monkeypatch.chdir(ROOT / "tests")  # no stray .env
    for name in [n for n in os.environ if n.startswith("HUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HUB_CONFIG", str(ROOT / source))
    load_settings()  # the shipped file is valid as it is


def test_open_webui_has_its_own_secret_and_gets_the_hub_key_from_its_environment() -> None:
    secret_refs = REFERENCE.findall(WEBUI_ENV["WEBUI_SECRET_KEY"])
    assert [r[0] for r in secret_refs] != ["HUB_JWT_SECRET"]
    assert "HUB_JWT_SECRET" not in WEBUI_ENV["WEBUI_SECRET_KEY"]
    # Open WebUI's format (open_webui/config.py): a JSON object keyed by connection index.
    variables = {"OPEN_WEBUI_API_KEY": "k-123", "MORE_API_KEYS": ""}
    configs = json.loads(interpolate(WEBUI_ENV["OLLAMA_API_CONFIGS"], variables))
    assert configs == {"0": {"enable": True, "key": "k-123"}}
    assert WEBUI_ENV["OLLAMA_BASE_URL"] == "http://hub:8000/ollama"
    # The same key is the hub's trusted key, and Open WebUI names its users with it.
    assert interpolate(HUB_ENV["HUB_TRUSTED_API_KEYS"], variables) == "k-123"
    assert interpolate(HUB_ENV["HUB_API_KEYS"], variables) == ""
    assert WEBUI_ENV["ENABLE_FORWARD_USER_INFO_HEADERS"] == "true"


def hub_environment(dotenv: dict[str, str]) -> dict[str, str]:
    return {name: interpolate(str(value), dotenv) for name, value in HUB_ENV.items()}


def test_the_hub_starts_on_the_readme_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = readme_dotenv()
    required = {
        m[0]
        for service in SERVICES.values()
        for value in (service.get("environment") or {}).values()
        for m in REFERENCE.findall(str(value))
        if m[1].endswith("?")
    }
    assert required <= set(dotenv), f"README's .env lacks {required - set(dotenv)}"
    environment = hub_environment(dotenv)
    environment["HUB_CONFIG"] = str(ROOT / "chathub.yaml")  # the mounted file, outside docker
    for name in [n for n in os.environ if n.startswith("HUB_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT / "tests")
    settings = load_settings()
    assert settings.section("telegram") == TelegramSettings()  # empty token: off, no crash
    assert settings.static_api_keys() == [dotenv["OPEN_WEBUI_API_KEY"]]
    assert settings.trusted_keys() == [dotenv["OPEN_WEBUI_API_KEY"]]


def test_the_readme_dotenv_is_valid_for_a_local_chathub(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [n for n in os.environ if n.startswith("HUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    lines = [f"{k}={v}" for k, v in readme_dotenv().items()]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_settings()  # no "unknown setting": the old HUB_API_KEY made every command fail


def test_every_discord_setting_is_passed_through_empty_when_unset() -> None:
    from hub.connectors.discord.settings import DiscordSettings

    for field in DiscordSettings.model_fields:
        name = f"HUB_DISCORD__{field.upper()}"
        assert HUB_ENV.get(name) == f"${{{name}:-}}", name
