"""The model list as the HTTP routes see it: a short cache over `ModelRouter.models()`.

Every chat request checks its model against the list before streaming, so an unknown model is a
clean 404. The cache keeps that check off the backends' `/api/tags` on every request; a name
missing from the cached list triggers one fresh read before the request is refused.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.api.errors import ApiError

if TYPE_CHECKING:
    from litestar import Request

    from hub.core.ports import ModelListing, ModelRouter

_STATE_KEY = "hub_model_catalog"
_LATEST = ":latest"


class ModelCatalog:
    """Cached model listings with `name` / `name:latest` resolution."""

    def __init__(self, router: ModelRouter, *, ttl: float = 2.0) -> None:
        self._router = router
        self._ttl = ttl
        self._listings: list[ModelListing] = []
        self._names: set[str] = set()
        self._read_at = -1.0
        self._lock = asyncio.Lock()
        self.started = datetime.now(UTC)  # modified_at for aliases with no upstream time

    async def listings(self, *, fresh: bool = False) -> list[ModelListing]:
        if fresh or time.monotonic() - self._read_at > self._ttl:
            read_at = time.monotonic()
            async with self._lock:
                if self._read_at < read_at:  # nobody refreshed while we waited
                    self._listings = list(await self._router.models())
                    self._names = {m.name for m in self._listings}
                    self._read_at = time.monotonic()
        return self._listings

    def _match(self, name: str) -> str | None:
        if name in self._names:
            return name
        if name.endswith(_LATEST) and name[: -len(_LATEST)] in self._names:
            return name[: -len(_LATEST)]
        if ":" not in name and name + _LATEST in self._names:
            return name + _LATEST
        return None

    async def resolve(self, name: str) -> str:
        """The listed name for `name` (`x` and `x:latest` are the same model), else 404."""
        if not name:
            raise ApiError(400, "model is required")
        await self.listings()
        found = self._match(name)
        if found is None:
            await self.listings(fresh=True)
            found = self._match(name)
        if found is None:
            raise ApiError(404, f"model '{name}' not found")
        return found


def catalog_of(request: Request[Any, Any, Any]) -> ModelCatalog:
    """The app's catalog, created on first use."""
    state = request.app.state
    catalog: ModelCatalog | None = state.get(_STATE_KEY)
    if catalog is None:
        catalog = ModelCatalog(request.app.state.services.router)
        state[_STATE_KEY] = catalog
    return catalog
