"""HubSettings: environment (HUB_*), `.env`, and an optional YAML file named by HUB_CONFIG.

Precedence, highest first: explicit arguments, environment, `.env`, YAML, defaults. An empty
value means "not set" everywhere (`HUB_TELEGRAM__TOKEN=` as docker compose passes an unset
variable, `token: ""` in YAML). Connector plugins add their own sections (`HUB_<NAME>__*`, YAML
`<name>:`): `settings_class(plugins)` is HubSettings with those sections added.

Nothing here runs at import time: `load_settings()` is called by the CLI (or a test) and the
result is passed to `create_app(settings)`.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

import yaml
from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as SourceError

from hub.connectors.plugin import ConnectorPlugin, discover_plugins
from hub.core.chat_config import ChatConfig
from hub.core.coordination.config import CoordinationConfig
from hub.core.jobs.config import JobsConfig
from hub.core.limits.config import LimitsConfig
from hub.core.prompt_rules import PromptError, normalize_command
from hub.core.routing_config import RoutingConfig
from hub.core.urls import check_service_url, http_url
from hub.http_server import ServerSettings
from hub.setting_names import PREFIX, check_variable, yaml_hint

DOTENV = ".env"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(Exception):
    """A setting is invalid. The message is one line naming the setting and what is wrong."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
        env_prefix=PREFIX,
        env_nested_delimiter="__",
        env_file=DOTENV,
        env_ignore_empty=True,
        # Unknown HUB_* names are refused by `load_settings` (with a suggestion); everything
        # else in .env belongs to other programs (docker compose reads the same file).
        dotenv_filtering="only_existing",
        extra="forbid",
        frozen=True,
    )

    # The installed connector plugins whose sections this class has (see `settings_class`).
    plugins: ClassVar[tuple[ConnectorPlugin, ...]] = ()

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
    # Keys whose requests may name the person behind them (X-OpenWebUI-User-Id, X-Hub-User);
    # comma separated, and each is an API key as well (hub/api/forwarding.py).
    trusted_api_keys: SecretStr | None = None
    # What /ollama/api/version reports; unset: the lowest version among the Ollama backends.
    ollama_version: str | None = None
    webui_dir: Path | None = None
    log_level: str = "INFO"
    log_requests: bool = True  # one line per HTTP request (hub/api/request_log.py)

    webui: WebUISettings = WebUISettings()
    chat: ChatConfig = ChatConfig()
    routing: RoutingConfig = RoutingConfig()
    limits: LimitsConfig = LimitsConfig()
    prompts: list[SeedPrompt] = Field(default_factory=list)
    # HTTP connection limits (header/keep-alive timeouts, connection cap, header size).
    server: ServerSettings = ServerSettings()
    # Lease times of what replicas share through Redis (with HUB_REDIS_URL).
    coordination: CoordinationConfig = CoordinationConfig()
    # Jobs (POST /api/v1/jobs): workers per replica, result lifetime, callbacks.
    jobs: JobsConfig = JobsConfig()

    @field_validator("ollama_url")
    @classmethod
    def _ollama_url(cls, value: str) -> str:
        return http_url(value, default_port=11434)

    @field_validator("mongodb_url")
    @classmethod
    def _mongodb_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_service_url(value.get_secret_value(), ("mongodb", "mongodb+srv"), "mongo:27017")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_service_url(value.get_secret_value(), ("redis", "rediss", "unix"), "redis:6379/0")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("webui_dir")
    @classmethod
    def _webui_dir(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.exists():
            raise ValueError(f"{value} does not exist; point it at Open WebUI's build directory")
        if not value.is_dir():
            raise ValueError(f"{value} is not a directory; point it at the build directory")
        if not (value / "index.html").is_file():
            raise ValueError(f"{value} has no index.html; point it at the build directory")
        return value

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

    def section(self, name: str) -> BaseModel | None:
        """A connector plugin's validated settings section (None if it declares none)."""
        value = getattr(self, name, None) if name in self.connector_names() else None
        return value if isinstance(value, BaseModel) else None

    @classmethod
    def connector_names(cls) -> list[str]:
        return [p.name for p in cls.plugins]

    def static_api_keys(self) -> list[str]:
        """Every API key: `HUB_API_KEYS` and `HUB_TRUSTED_API_KEYS` (each once)."""
        keys = _split_keys(self.api_keys) + self.trusted_keys()
        return list(dict.fromkeys(keys))

    def trusted_keys(self) -> list[str]:
        """The keys trusted to name the person behind each request (`HUB_TRUSTED_API_KEYS`)."""
        return _split_keys(self.trusted_api_keys)

    @field_validator("ollama_version")
    @classmethod
    def _ollama_version(cls, value: str | None) -> str | None:
        if value is not None and not _VERSION.match(value.strip()):
            raise ValueError(f"{value!r} is not a version; write it as Ollama does, e.g. 0.12.3")
        return value.strip() if value is not None else None


_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+].*)?$")


def _split_keys(value: SecretStr | None) -> list[str]:
    if value is None:
        return []
    return [k.strip() for k in value.get_secret_value().split(",") if k.strip()]


def settings_class(plugins: Sequence[ConnectorPlugin]) -> type[HubSettings]:
    """HubSettings with a section per plugin that declares a settings model."""
    return _settings_class(tuple(plugins))


@functools.cache
def _settings_class(plugins: tuple[ConnectorPlugin, ...]) -> type[HubSettings]:
    if not plugins:
        return HubSettings
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__module__": __name__, "plugins": plugins}
    for plugin in plugins:
        if plugin.name in HubSettings.model_fields:
            raise SettingsError(
                f"the connector plugin {plugin.name!r} has the name of a core setting; "
                "uninstall it or ask its author to rename it"
            )
        if plugin.settings_model is not None:
            annotations[plugin.name] = plugin.settings_model
            namespace[plugin.name] = Field(default_factory=plugin.settings_model)
    namespace["__annotations__"] = annotations
    return cast(type[HubSettings], type("HubSettings", (HubSettings,), namespace))


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
    return cast(dict[str, Any], _without_empty(data))


def _without_empty(value: Any) -> Any:
    """Mappings without their empty ("" or null) values, at every depth: empty means unset."""
    if isinstance(value, dict):
        return {k: _without_empty(v) for k, v in value.items() if v != "" and v is not None}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


class _Origins:
    """Where each variable came from, to name a bad setting the way the user wrote it."""

    def __init__(self, environ: dict[str, str], dotenv: dict[str, str], yaml_data: dict[str, Any]):
        self.environ = {k.upper(): k for k in environ}
        self.dotenv = {k.upper(): k for k in dotenv}
        self.yaml = yaml_data

    def name(self, loc: Sequence[str | int]) -> str:
        env = PREFIX + "__".join(str(p) for p in loc).upper()
        if env in self.environ:
            return self.environ[env]
        if env in self.dotenv:
            return f"{self.dotenv[env]} (in {DOTENV})"
        if loc and loc[0] in self.yaml:
            return ".".join(str(p) for p in loc) + " (in HUB_CONFIG)"
        return env


def _describe(error: ValidationError, cls: type[HubSettings], origins: _Origins) -> str:
    first = error.errors()[0]
    loc = [p if isinstance(p, int) else str(p) for p in first["loc"]]
    name = origins.name(loc) if loc else "settings"
    if first["type"] == "extra_forbidden":
        hint = yaml_hint(cls, loc, first.get("input"), cls.connector_names())
        return f"{name}: unknown setting{hint}"
    message = str(first["msg"]).removeprefix("Value error, ")
    field, sep, rest = message.partition(": ")
    if sep and field.isidentifier() and loc:
        # A section-level check naming its own field: HUB_TELEGRAM + webhook_secret.
        return f"{origins.name([*loc, field])}: {rest}"
    return f"{name}: {message}"


def _check_names(
    cls: type[HubSettings], variables: dict[str, str], where: str, overrides: dict[str, Any]
) -> None:
    for written, value in variables.items():
        if not value or not written.upper().startswith(PREFIX):
            continue  # empty is unset: compose passes every optional variable, most empty
        if written[len(PREFIX) :].lower() in overrides:
            continue  # an explicit argument wins over the variable
        problem = check_variable(cls, written, value, connectors=cls.connector_names())
        if problem is not None:
            name, _, reason = problem.partition(": ")
            raise SettingsError(f"{name}{where}: {reason}")


def _read_dotenv() -> dict[str, str]:
    path = Path(DOTENV)
    if not path.is_file():
        return {}
    try:
        return {k: v for k, v in dotenv_values(path).items() if v is not None}
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{DOTENV}: cannot read {path.resolve()}: {exc}") from exc


def load_settings(
    *, plugins: Sequence[ConnectorPlugin] | None = None, **overrides: Any
) -> HubSettings:
    """Build settings from overrides, environment, `.env` and HUB_CONFIG; raise SettingsError.

    `plugins`: the connector plugins whose sections to read; the installed ones by default.
    """
    cls = settings_class(discover_plugins() if plugins is None else plugins)
    environ = dict(os.environ)
    dotenv = _read_dotenv()
    _check_names(cls, environ, "", overrides)
    _check_names(cls, dotenv, f" (in {DOTENV})", overrides)
    path_value = (
        overrides.get("config") or environ.get("HUB_CONFIG") or dotenv.get("HUB_CONFIG") or None
    )
    data = _read_yaml(Path(path_value)) if path_value else {}
    _PENDING_YAML["data"] = data
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, cls, _Origins(environ, dotenv, data))) from None
    except SourceError as exc:  # a value pydantic-settings could not decode
        raise SettingsError(f"settings: {exc}") from None
    finally:
        _PENDING_YAML.pop("data", None)


__all__ = [
    "HubSettings",
    "SeedPrompt",
    "SettingsError",
    "WebUISettings",
    "load_settings",
    "settings_class",
]
