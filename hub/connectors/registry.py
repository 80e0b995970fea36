"""Starting and stopping the enabled connectors, and asking each for its credentials.

What a plugin is (found through the `chathub.connectors` entry-point group, declaring its own
settings section): `plugin.py`. A connector whose credentials are refused, or whose platform
cannot be reached, stops start-up with one line (exit 2 or 1), unless its section says
`required: false`: then the rest of the hub starts and the connector is reported down in
`/ready` and `chathub check`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

from hub.connectors.plugin import (
    Connector,
    ConnectorError,
    ConnectorPlugin,
    PlatformUnreachable,
    VerifiesCredentials,
)
from hub.runtime import ConnectorState
from hub.settings import SettingsError

if TYPE_CHECKING:
    from hub.runtime import Services
    from hub.settings import HubSettings

log = logging.getLogger(__name__)

VERIFY_TIMEOUT = 15.0  # seconds a credentials check may take, whatever the plugin's own timeouts


async def verify_credentials(plugin: ConnectorPlugin, settings: Any) -> str:
    """The plugin's credentials hook, if it has one: what the credentials belong to, or a
    `ConnectorError` saying why they cannot be used."""
    if not isinstance(plugin, VerifiesCredentials):
        return ""
    try:
        return await asyncio.wait_for(plugin.verify(settings), VERIFY_TIMEOUT)
    except TimeoutError:
        raise PlatformUnreachable(
            f"the {plugin.name} platform did not answer within {VERIFY_TIMEOUT:.0f} s"
        ) from None
    except Exception as exc:
        raise as_connector_error(plugin.name, exc, settings) from exc


def as_connector_error(name: str, exc: BaseException, settings: Any) -> ConnectorError:
    """`exc` as a one-line `ConnectorError`, with the section's secrets masked."""
    if isinstance(exc, ConnectorError):
        return exc
    text = _masked(str(exc) or type(exc).__name__, settings)
    error = ConnectorError(f"the {name} connector failed to start: {text}")
    if isinstance(exc, SettingsError):
        error.exit_code = 2
    return error


def _masked(text: str, settings: Any) -> str:
    if isinstance(settings, BaseModel):
        for value in settings.__dict__.values():
            if isinstance(value, SecretStr) and value.get_secret_value():
                text = text.replace(value.get_secret_value(), "***")
    return text


def _required(settings: Any) -> bool:
    return bool(getattr(settings, "required", True))


# What verifying an enabled connector found: what its credentials belong to, or why not.
Verified = dict[str, "str | ConnectorError"]


async def verify_enabled(plugins: Sequence[ConnectorPlugin], settings: HubSettings) -> Verified:
    """Verify every enabled connector's credentials at once, before anything else starts, so a
    refused token is the only line start-up prints. Raises the first required one's error."""
    enabled = [(p, settings.section(p.name)) for p in plugins]
    enabled = [(p, section) for p, section in enabled if p.enabled(section)]

    async def outcome(plugin: ConnectorPlugin, section: Any) -> str | ConnectorError:
        try:
            return await verify_credentials(plugin, section)
        except ConnectorError as exc:
            return exc

    results = await asyncio.gather(*(outcome(p, section) for p, section in enabled))
    for (_, section), result in zip(enabled, results, strict=True):
        if isinstance(result, ConnectorError) and _required(section):
            raise result
    return {p.name: result for (p, _), result in zip(enabled, results, strict=True)}


@asynccontextmanager
async def start_connectors(
    plugins: Sequence[ConnectorPlugin], services: Services, verified: Verified | None = None
) -> AsyncIterator[list[Connector]]:
    """Start the enabled connectors; stop them in reverse order on exit.

    `verified`: what `verify_enabled` found (else each connector is verified as it starts).
    Raises `ConnectorError` for a required connector that cannot start.
    """
    running: list[Connector] = []
    try:
        for plugin in plugins:
            settings = services.settings.section(plugin.name)
            if not plugin.enabled(settings):
                continue
            found = (verified or {}).get(plugin.name)
            connector = await _start(plugin, settings, services, found)
            if connector is not None:
                running.append(connector)
        yield running
    finally:
        for connector in reversed(running):
            try:
                await connector.stop()
            except Exception:
                log.exception("connector failed to stop", extra={"connector": connector.name})


async def _start(
    plugin: ConnectorPlugin,
    settings: Any,
    services: Services,
    verified: str | ConnectorError | None,
) -> Connector | None:
    connector: Connector | None = None
    try:
        if isinstance(verified, ConnectorError):
            raise verified
        detail = verified if verified is not None else await verify_credentials(plugin, settings)
        connector = plugin.create(services, settings)
        await connector.start()
    except Exception as exc:
        error = as_connector_error(plugin.name, exc, settings)
        if connector is not None:  # half started: let it release what it holds
            with contextlib.suppress(Exception):
                await connector.stop()
        if _required(settings):
            raise error from exc
        services.connector_states[plugin.name] = ConnectorState(False, str(error))
        log.warning(
            "connector not started; the rest of the hub runs without it",
            extra={"connector": plugin.name, "reason": str(error)},
        )
        return None
    services.extras.setdefault("connectors", {})[plugin.name] = connector
    services.connector_states[plugin.name] = ConnectorState(True, detail or "running")
    log.info("connector started", extra={"connector": plugin.name})
    return connector


__all__ = ["as_connector_error", "start_connectors", "verify_credentials", "verify_enabled"]
