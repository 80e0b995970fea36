"""Settings: environment, YAML via HUB_CONFIG, and one-line errors naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Settings read the process environment and ./.env: isolate both per test.
    import os

    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_documented_contract() -> None:
    s = load_settings()
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.data_dir == Path("./data")
    assert s.mongodb_url is None and s.redis_url is None
    assert s.mongodb_db == "chathub"
    assert s.ollama_url == "http://127.0.0.1:11434"
    assert s.telegram.token is None
    assert s.telegram.base_url == "https://api.telegram.org/bot"
    assert s.slack.base_url == "https://slack.com/api/"
    assert s.discord.api_base == "https://discord.com/api/v10"


def test_environment_and_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PORT", "9001")
    monkeypatch.setenv("HUB_TELEGRAM__TOKEN", "123:secret-token")
    monkeypatch.setenv("HUB_API_KEYS", "k1, k2,,")
    monkeypatch.setenv("HUB_CHAT__SYSTEM_PROMPT", "Be brief.")
    s = load_settings()
    assert s.port == 9001
    assert s.telegram.token is not None
    assert s.telegram.token.get_secret_value() == "123:secret-token"
    assert "secret-token" not in repr(s) and "secret-token" not in str(s.telegram)
    assert s.static_api_keys() == ["k1", "k2"]
    assert s.chat.system_prompt == "Be brief."


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("HUB_DEFAULT_MODEL=llama3\n", encoding="utf-8")
    assert load_settings().default_model == "llama3"


def test_yaml_sections_and_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
default_model: from-yaml
routing:
  backends:
    - {name: gpu, url: "http://gpu:11434", max_concurrency: 2}
  models:
    fast: [{backend: gpu, model: "llama3:8b"}]
prompts:
  - {command: /summarize, title: Summarize, content: "Summarize: {{INPUT}}"}
""",
    )
    monkeypatch.setenv("HUB_CONFIG", str(path))
    monkeypatch.setenv("HUB_DEFAULT_MODEL", "from-env")
    s = load_settings()
    assert s.default_model == "from-env"
    assert s.routing.backends[0].max_concurrency == 2
    assert s.routing.models["fast"][0].model == "llama3:8b"
    assert s.prompts[0].command == "/summarize"


@pytest.mark.parametrize(
    ("env", "yaml_text", "expected"),
    [
        ({"HUB_PORT": "eighty"}, None, "HUB_PORT: "),
        ({"HUB_PORT": "70000"}, None, "HUB_PORT: "),
        ({"HUB_TELEGRAM__MODE": "carrier-pigeon"}, None, "HUB_TELEGRAM__MODE: "),
        ({}, "routing:\n  backends:\n    - {name: a, url: x, colour: red}\n", "colour"),
        ({}, "bogus_key: 1\n", "bogus_key (in HUB_CONFIG): unknown setting"),
        ({}, "routing: [unclosed\n", "is not valid YAML at line"),
        ({}, "- just\n- a list\n", "must hold a mapping"),
    ],
)
def test_bad_settings_give_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    env: dict[str, str],
    yaml_text: str | None,
    expected: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if yaml_text is not None:
        monkeypatch.setenv("HUB_CONFIG", str(write(tmp_path, yaml_text)))
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUB_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(SettingsError, match="HUB_CONFIG: cannot read"):
        load_settings()
