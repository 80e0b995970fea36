"""A one-backend ModelRouter for pipeline tests (the real router lives in hub/core/router.py).

It implements the whole ModelRouter port except queueing: the model comes from the request,
the user's own choice or a default; `allowed` checks an optional allowlist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import aclosing
from typing import Any

from hub.core.models import Started, User
from hub.core.ports import ChatBackend, ChatRequest, ModelListing, RouteContext


class SingleBackendRouter:
    """Routes everything to one backend."""

    def __init__(
        self, backend: ChatBackend, default_model: str, *, allow: Iterable[str] | None = None
    ) -> None:
        self.backend = backend
        self.default_model = default_model
        self.allow = set(allow) if allow is not None else None

    def resolve(self, ctx: RouteContext) -> str:
        return ctx.requested_model or ctx.user.model or self.default_model

    def allowed(self, user: User, model: str) -> bool:
        return self.allow is None or user.role == "admin" or model in self.allow

    async def stream(self, ctx: RouteContext, request: ChatRequest) -> AsyncIterator[Any]:
        yield Started(request.model, self.backend.name)
        async with aclosing(self.backend.chat(request)) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                yield chunk

    async def models(self) -> list[ModelListing]:
        infos = await self.backend.list_models()
        return [ModelListing(i.name, (self.backend.name,), i) for i in infos]

    async def context_window(self, model: str) -> int | None:
        shown = await self.backend.show(model)
        info = shown.get("model_info", {}) if shown else {}
        for name, value in info.items():
            if name.endswith(".context_length") and isinstance(value, int):
                return value
        return None

    async def show(self, model: str) -> Mapping[str, Any] | None:
        return await self.backend.show(model)
