"""What a connector plugin is: the object a `chathub.connectors` entry point names, the settings
section it declares, the connector it creates, and the errors its start-up may raise.

A plugin declares `settings_model`, a pydantic model for its section: the hub reads it from
`HUB_<NAME>__*` variables, the `<name>:` section of the HUB_CONFIG file and `.env` alike, refuses
unknown keys and bad values at start-up (one line, exit 2), and hands the validated section to
`enabled`, `routes`, `create` and `verify`. Every field needs a default: an absent section must be
valid (that is the connector switched off). `ConnectorSettings` is the base to build it on.

The plugin module is loaded for every command, so it must be cheap: SDK imports belong in
`create` and `verify`.
"""

from __future__ import annotations

import logging
import re
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

if TYPE_CHECKING:
    from hub.runtime import Services

log = logging.getLogger(__name__)

GROUP = "chathub.connectors"
# The name is the settings prefix (HUB_<NAME>__KEY) and the YAML section, so it must be usable
# in both: lower case, no double underscore.
_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


class ConnectorSettings(BaseModel):
    """Base of a connector's settings section: unknown keys refused, empty values unset.

    `required`: when the platform refuses the credentials or cannot be reached at start-up, stop
    the hub (true, the default) or start everything else and report the connector down in
    `/ready` and `chathub check` (false).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    required: bool = True

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        # `HUB_TELEGRAM__TOKEN=` (docker compose passes it so when the variable is not set) and
        # `token: ""` in YAML both mean "not set", never an empty token.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != "" and v is not None}
        return data


class ConnectorError(Exception):
    """A connector could not start. The message is one sentence saying what to do."""

    exit_code = 1


class CredentialsRefused(ConnectorError):
    """The platform answered and refused the configured credentials (a configuration error)."""

    exit_code = 2


class PlatformUnreachable(ConnectorError):
    """The platform did not answer (a dependency that is down)."""


class Connector(Protocol):
    """A running platform adapter. It talks to the core only through ChatService and render()."""

    name: str

    async def start(self) -> None:
        """Connect and begin receiving messages (returns once running)."""
        ...

    async def stop(self) -> None:
        """Stop receiving, let running replies finish or mark them interrupted, disconnect."""
        ...


class ConnectorPlugin(Protocol):
    """What an entry point of the `chathub.connectors` group must provide.

    `settings` below is always an instance of the plugin's own `settings_model` (None when it
    has none).
    """

    name: str
    settings_model: type[BaseModel] | None  # None: the connector has no settings
    # Optional, for the page at /: `title` ("Slack"; default: the name capitalised) and
    # `setup`, what turns it on ("set HUB_SLACK__BOT_TOKEN … (see docs/slack.md)").

    def enabled(self, settings: Any) -> bool:
        """Whether to start the connector (e.g. a token is set)."""
        ...

    def routes(self, settings: Any) -> list[Any]:
        """Litestar handlers (webhooks) mounted when the app is built; they find the running
        connector on `app.state.services` at request time."""
        ...

    def create(self, services: Services, settings: Any) -> Connector:
        """The connector, not started yet."""
        ...


@runtime_checkable
class ReportsStatus(Protocol):
    """A running connector that says what it is doing, for `/ready` ("standby: replica 3f2a
    polls" when another replica holds a duty only one may do)."""

    def replica_status(self) -> str: ...


@runtime_checkable
class VerifiesCredentials(Protocol):
    """The optional credentials hook, used by `chathub check` and before each start."""

    async def verify(self, settings: Any) -> str:
        """Ask the platform whether the configured credentials work; return what they belong
        to (e.g. "bot @hub_bot"). Raise `CredentialsRefused` or `PlatformUnreachable`."""
        ...


def discover_plugins() -> list[ConnectorPlugin]:
    """Every installed plugin, in entry-point order; one that cannot be used is skipped with a
    one-line warning saying why (its settings are then refused as unknown)."""
    plugins: dict[str, ConnectorPlugin] = {}
    for ep in entry_points(group=GROUP):
        try:
            plugin = ep.load()
            problem = _unusable(plugin, plugins)
        except Exception as exc:  # a broken third-party package must not stop the hub
            problem = f"it failed to load ({type(exc).__name__}: {exc})"
        if problem:
            log.warning(
                f"connector plugin {ep.name!r} ({ep.value}) is skipped: {problem}",
                extra={"plugin": ep.name},
            )
            continue
        plugins[plugin.name] = plugin
    return list(plugins.values())


def _unusable(plugin: Any, seen: dict[str, ConnectorPlugin]) -> str:
    name = getattr(plugin, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return f"its name {name!r} is not a lower-case identifier without double underscores"
    if name in seen:
        return f"another plugin is already named {name!r}"
    for method in ("enabled", "routes", "create"):
        if not callable(getattr(plugin, method, None)):
            return f"it has no {method}() method"
    model = getattr(plugin, "settings_model", None)
    if model is None:
        return ""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return "its settings_model is not a pydantic model"
    try:
        model()
    except ValidationError:
        return "its settings_model has fields without defaults (an absent section must be valid)"
    return ""


__all__ = [
    "Connector",
    "ConnectorError",
    "ConnectorPlugin",
    "ConnectorSettings",
    "CredentialsRefused",
    "PlatformUnreachable",
    "VerifiesCredentials",
    "discover_plugins",
]
