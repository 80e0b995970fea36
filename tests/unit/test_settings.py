"""Settings: environment, YAML via HUB_CONFIG, and one-line errors naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.connectors.telegram.settings import TelegramSettings
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
    telegram = s.section("telegram")
    assert isinstance(telegram, TelegramSettings)
    assert telegram.token is None
    assert telegram.base_url == "https://api.telegram.org/bot"


def test_environment_and_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PORT", "9001")
    monkeypatch.setenv("HUB_TELEGRAM__TOKEN", "123:secret-token")
    monkeypatch.setenv("HUB_API_KEYS", "k1, k2,,")
    monkeypatch.setenv("HUB_CHAT__SYSTEM_PROMPT", "Be brief.")
    s = load_settings()
    assert s.port == 9001
    telegram = s.section("telegram")
    assert isinstance(telegram, TelegramSettings) and telegram.token is not None
    assert telegram.token.get_secret_value() == "123:secret-token"
    assert "secret-token" not in repr(s) and "secret-token" not in str(telegram)
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


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HUB_PROT", "9000", "HUB_PROT: unknown setting; did you mean HUB_PORT?"),
        (
            "HUB_OLAMA_URL",
            "http://x",
            "HUB_OLAMA_URL: unknown setting; did you mean HUB_OLLAMA_URL?",
        ),
        ("HUB_API_KEY", "k-42", "HUB_API_KEY: unknown setting; did you mean HUB_API_KEYS?"),
        ("HUB_TELEGRAM__TOKN", "1:xyz", "did you mean HUB_TELEGRAM__TOKEN?"),
        ("HUB_TELEGRAMM__TOKEN", "1:xyz", "did you mean HUB_TELEGRAM__TOKEN?"),
        ("HUB_CHAT__SYSTEM_PROMT", "Be brief", "did you mean HUB_CHAT__SYSTEM_PROMPT?"),
        ("HUB_PORT__X", "123", "HUB_PORT__X: unknown setting"),
        (
            "HUB_MATRIX__TOKEN",
            "syt-1",
            "HUB_MATRIX__TOKEN: unknown setting; no `matrix` connector is installed "
            "(installed connectors: console, ",
        ),
        ("HUB_ROUTING__BACKENDS", "gpu-box", "HUB_ROUTING__BACKENDS: expects JSON"),
        ("HUB_CONSOLE__PROMPT", "you> ", "unknown setting; the console connector has no settings"),
    ],
)
def test_unknown_variables_are_refused_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"{name}: ") and expected in message
    assert value not in message  # values are never echoed


def test_dotenv_other_programs_variables_are_ignored_and_names_are_right(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    # What docker compose keeps beside the hub's own settings.
    dotenv.write_text(
        "COMPOSE_PROJECT_NAME=chat\nWEBUI_SECRET_KEY=abc\nHUB_API_KEYS=k1\nHUB_TELEGRAM__TOKEN=\n",
        encoding="utf-8",
    )
    s = load_settings()
    assert s.static_api_keys() == ["k1"]
    assert s.section("telegram") == TelegramSettings()
    # The README's old compose example: the message names the variable as written.
    dotenv.write_text("HUB_API_KEY=k1\n", encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == "HUB_API_KEY (in .env): unknown setting; did you mean HUB_API_KEYS?"


def test_empty_values_mean_unset_everywhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HUB_TELEGRAM__TOKEN", "")
    monkeypatch.setenv("HUB_PORT", "")
    # docker-compose.yml passes these, empty, whether or not a connector is installed.
    monkeypatch.setenv("HUB_SLACK__BOT_TOKEN", "")
    monkeypatch.setenv("HUB_MATRIX__TOKEN", "")
    monkeypatch.setenv("HUB_REDIS_URL", "")
    path = write(tmp_path, 'default_model: ""\ntelegram:\n  token: ""\n  mode:\n')
    monkeypatch.setenv("HUB_CONFIG", str(path))
    s = load_settings()
    assert s.port == 8000 and s.redis_url is None and s.default_model is None
    assert s.section("telegram") == TelegramSettings()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HUB_OLLAMA_URL": "htp://gpu:11434"}, "HUB_OLLAMA_URL: htp:// is not an HTTP scheme"),
        ({"HUB_OLLAMA_URL": "http://"}, "HUB_OLLAMA_URL: names no host"),
        ({"HUB_OLLAMA_URL": "gpu:port"}, "HUB_OLLAMA_URL: has a port that is not a number"),
        ({"HUB_REDIS_URL": "http://u:hunter2@r"}, "HUB_REDIS_URL: must start with redis://"),
        ({"HUB_MONGODB_URL": "mongo:27017"}, "HUB_MONGODB_URL: must start with mongodb://"),
        ({"HUB_MONGODB_URL": "mongodb://u:hunter2@/db"}, "HUB_MONGODB_URL: names no host"),
        ({"HUB_TELEGRAM__BASE_URL": "api.telegram.org/bot"}, "HUB_TELEGRAM__BASE_URL: "),
        ({"HUB_TELEGRAM__TOKEN": "bot123:AA hunter2"}, "HUB_TELEGRAM__TOKEN: is not a bot token"),
        ({"HUB_LOG_LEVEL": "verbose"}, "HUB_LOG_LEVEL: 'verbose' is not a log level"),
        ({"HUB_WEBUI_DIR": "/no/such/dir"}, "HUB_WEBUI_DIR: /no/such/dir does not exist"),
    ],
)
def test_urls_levels_and_paths_are_checked(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith(expected)
    assert "hunter2" not in str(info.value)


def test_an_ollama_url_without_a_scheme_reads_as_ollama_host_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HUB_OLLAMA_URL", "127.0.0.1:11434")
    assert load_settings().ollama_url == "http://127.0.0.1:11434"
    monkeypatch.setenv("HUB_OLLAMA_URL", "gpu-box")
    assert load_settings().ollama_url == "http://gpu-box:11434"
    path = write(tmp_path, "routing:\n  backends:\n    - {name: a, url: '10.0.0.5:11434'}\n")
    monkeypatch.setenv("HUB_CONFIG", str(path))
    assert load_settings().routing.backends[0].url == "http://10.0.0.5:11434"
    path.write_text(
        "routing:\n  backends:\n    - {name: a, kind: openai, url: 'gpu:8000/v1'}\n",
        encoding="utf-8",
    )
    with pytest.raises(SettingsError, match=r"^routing\.backends\.0\.url \(in HUB_CONFIG\): "):
        load_settings()


def test_webui_dir_must_be_a_build_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    monkeypatch.setenv("HUB_WEBUI_DIR", str(build))
    with pytest.raises(SettingsError, match=r"has no index\.html"):
        load_settings()
    (build / "index.html").write_text("<html></html>", encoding="utf-8")
    assert load_settings().webui_dir == build
    monkeypatch.setenv("HUB_WEBUI_DIR", str(build / "index.html"))
    with pytest.raises(SettingsError, match="is not a directory"):
        load_settings()


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "chat:\n  system_promt: hi\n",
            "chat.system_promt (in HUB_CONFIG): unknown setting; did you mean chat.system_prompt?",
        ),
        (
            "matrix:\n  token: syt\n",
            "matrix (in HUB_CONFIG): unknown setting; no `matrix` connector is installed",
        ),
        (
            "telegram:\n  token: '1:x'\n  mode: webhook\n",
            "telegram.webhook_secret (in HUB_CONFIG): required",
        ),
        ("telegram:\n  colour: red\n", "telegram.colour (in HUB_CONFIG): unknown setting"),
    ],
)
def test_yaml_mistakes_are_named_in_the_files_terms(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, yaml_text: str, expected: str
) -> None:
    monkeypatch.setenv("HUB_CONFIG", str(write(tmp_path, yaml_text)))
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith(expected)
