"""Connector plugins: found through the `chathub.connectors` entry-point group.

A plugin (built-in or from a third-party package) is an object with a `name`, `enabled(settings)`,
`routes(settings)` (webhook handlers, registered when the app is built; they find their connector
on `app.state` at request time) and `create(services)` returning a started-later `Connector`.
Loading a plugin must be cheap: heavy SDK imports belong in `create`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hub.runtime import Services
    from hub.settings import HubSettings

log = logging.getLogger(__name__)

GROUP = "chathub.connectors"


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
    """What an entry point of the `chathub.connectors` group must provide."""

    name: str

    def enabled(self, settings: HubSettings) -> bool: ...

    def routes(self, settings: HubSettings) -> list[Any]: ...

    def create(self, services: Services) -> Connector: ...


def load_connector_plugins() -> list[ConnectorPlugin]:
    """Every installed plugin; one that fails to load is logged and skipped."""
    plugins: list[ConnectorPlugin] = []
    for ep in entry_points(group=GROUP):
        try:
            plugins.append(ep.load())
        except Exception:
            log.exception("connector plugin failed to load", extra={"plugin": ep.name})
    return plugins


@asynccontextmanager
async def start_connectors(
    plugins: Sequence[ConnectorPlugin], services: Services
) -> AsyncIterator[list[Connector]]:
    """Start the enabled connectors; stop them in reverse order on exit."""
    running: list[Connector] = []
    try:
        for plugin in plugins:
            if not plugin.enabled(services.settings):
                continue
            connector = plugin.create(services)
            await connector.start()
            running.append(connector)
            services.extras.setdefault("connectors", {})[plugin.name] = connector
            log.info("connector started", extra={"connector": plugin.name})
        yield running
    finally:
        for connector in reversed(running):
            try:
                await connector.stop()
            except Exception:
                log.exception("connector failed to stop", extra={"connector": connector.name})
