"""HubSettings: environment (HUB_*), `.env`, and an optional YAML file named by HUB_CONFIG.

Precedence, highest first: explicit arguments, environment, `.env`, YAML, defaults. Nothing here
runs at import time: `load_settings()` is called by the CLI (or a test) and the result is passed
to `create_app(settings)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from hub.core.access import AccessSettings
from hub.core.chat_config import ChatConfig
from hub.core.limits.config import LimitsConfig
from hub.core.prompt_rules import PromptError, normalize_command
from hub.core.routing_config import RoutingConfig


class SettingsError(Exception):
    """A setting is invalid. The message is one line naming the setting and what is wrong."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelegramSettings(_Section, AccessSettings):
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_secret: SecretStr | None = None
    webhook_url: str | None = None  # public URL Telegram should call in webhook mode
    drafts: bool = True  # stream private replies as native drafts (sendMessageDraft)
    poll_timeout: int = Field(default=30, ge=0, le=50)  # getUpdates long-poll seconds

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> TelegramSettings:
        if self.token is not None and self.mode == "webhook" and self.webhook_secret is None:
            # Without it anyone who finds the URL could post fake updates as any user.
            raise ValueError("webhook_secret: required when HUB_TELEGRAM__MODE=webhook")
        return self


class SlackSettings(_Section, AccessSettings):
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    base_url: str = "https://slack.com/api/"


class DiscordSettings(_Section, AccessSettings):
    token: SecretStr | None = None
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg"


class SeedPrompt(_Section):
    """A global prompt command created at start-up if missing (YAML `prompts:`)."""

    command: str
    title: str = ""
    content: str

    @field_validator("command")
    @classmethod
    def _valid_command(cls, value: str) -> str:
        try:
            return normalize_command(value)
        except PromptError as exc:
            raise ValueError(exc.message) from None


class WebUISettings(_Section):
    default_role: Literal["user", "pending"] = "user"
    token_ttl: int = Field(default=7 * 24 * 3600, gt=0)  # JWT lifetime in seconds
    expand_prompt_commands: bool = True  # on /ollama routes


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by HUB_CONFIG (already parsed by `load_settings`)."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class HubSettings(BaseSettings):
    """Every setting of the hub. Env names are `HUB_` + the field name (nested with `__`)."""

    model_config = SettingsConfigDict(
        env_prefix="HUB_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
        frozen=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("./data")
    mongodb_url: SecretStr | None = None
    mongodb_db: str = "chathub"
    redis_url: SecretStr | None = None
    ollama_url: str = "http://127.0.0.1:11434"
    config: Path | None = None
    default_model: str | None = None
    jwt_secret: SecretStr | None = None
    api_keys: SecretStr | None = None  # comma separated
    webui_dir: Path | None = None
    log_level: str = "INFO"

    telegram: TelegramSettings = TelegramSettings()
    slack: SlackSettings = SlackSettings()
    discord: DiscordSettings = DiscordSettings()
    webui: WebUISettings = WebUISettings()
    chat: ChatConfig = ChatConfig()
    routing: RoutingConfig = RoutingConfig()
    limits: LimitsConfig = LimitsConfig()
    prompts: list[SeedPrompt] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            _YamlSource(settings_cls, _PENDING_YAML.get("data", {})),
        )

    def static_api_keys(self) -> list[str]:
        if self.api_keys is None:
            return []
        return [k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()]


# `settings_customise_sources` is a classmethod with no way to receive the YAML path, so
# load_settings() parks the parsed file here for the duration of one construction.
_PENDING_YAML: dict[str, dict[str, Any]] = {}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"HUB_CONFIG: cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SettingsError(f"HUB_CONFIG: {path} is not valid YAML{where}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"HUB_CONFIG: {path} must hold a mapping of settings at the top level")
    return data


def _describe(error: ValidationError, yaml_keys: set[str]) -> str:
    first = error.errors()[0]
    loc = [str(p) for p in first["loc"]]
    dotted = ".".join(loc) or "settings"
    top = loc[0] if loc else ""
    if top in yaml_keys:
        name = f"{dotted} (in HUB_CONFIG)"
    else:
        name = "HUB_" + "__".join(loc).upper()
    if first["type"] == "extra_forbidden":
        return f"{name}: unknown setting"
    message = str(first["msg"]).removeprefix("Value error, ")
    field, sep, rest = message.partition(": ")
    if sep and field.isidentifier() and top not in yaml_keys:
        # A section-level check naming its own field: HUB_TELEGRAM + webhook_secret.
        return f"{name}__{field.upper()}: {rest}"
    return f"{name}: {message}"


def load_settings(**overrides: Any) -> HubSettings:
    """Build settings from overrides, environment, `.env` and HUB_CONFIG; raise SettingsError."""
    import os

    path_value = overrides.get("config") or os.environ.get("HUB_CONFIG")
    data = _read_yaml(Path(path_value)) if path_value else {}
    _PENDING_YAML["data"] = data
    try:
        return HubSettings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, set(data))) from None
    finally:
        _PENDING_YAML.pop("data", None)


__all__ = [
    "DiscordSettings",
    "HubSettings",
    "SeedPrompt",
    "SettingsError",
    "SlackSettings",
    "TelegramSettings",
    "WebUISettings",
    "load_settings",
]
