"""Stores: MongoDB when `HUB_MONGODB_URL` is set, else the embedded SQLite file in the data dir."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.core.ports import Stores
    from hub.settings import HubSettings


async def open_stores(settings: HubSettings) -> Stores:
    """Open the configured store, with users cached and usage buffered in front of it
    (`hub.core.stores.fronted`); raises `StoreError` with a sentence saying what to fix."""
    from hub.core.stores.fronted import FrontedStores

    # Imported here: pymongo is slow to import and unused by embedded deployments.
    if settings.mongodb_url is not None:
        from hub.core.stores.mongo import open_mongo

        url = settings.mongodb_url.get_secret_value()
        return FrontedStores(await open_mongo(url, settings.mongodb_db))
    from hub.core.stores.sqlite import open_sqlite

    return FrontedStores(await open_sqlite(settings.data_dir))


__all__ = ["open_stores"]
