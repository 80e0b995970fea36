"""Build the hub's services from settings, and close them again: shared by `chathub serve` (the
app lifespan) and `chathub chat` (the console).

Everything is created here, on the running loop, never at import time. Closing runs in reverse:
running replies are stopped (and stored as interrupted) before the router, the limiter and the
store go away.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from hub.runtime import Services

if TYPE_CHECKING:
    from hub.settings import HubSettings

log = logging.getLogger(__name__)

# Owner recorded on global prompts seeded from the YAML config (no person created them).
SEED_OWNER = "system"


@asynccontextmanager
async def open_services(settings: HubSettings) -> AsyncIterator[Services]:
    """Open the store, backends and router, limits, prompts and the ChatService; close on exit.

    Raises `StoreError` when the store cannot be opened (the message says what to fix).
    """
    from hub.core.backends import build_backend
    from hub.core.chat import ChatService
    from hub.core.limits.gate import build_limit_gate
    from hub.core.prompts import PromptService
    from hub.core.router import build_router
    from hub.core.stores import open_stores
    from hub.core.urls import service_address

    async with AsyncExitStack() as stack:
        stores = await open_stores(settings)
        stack.push_async_callback(stores.aclose)
        log.info("store ready", extra={"store": stores.description})

        router = build_router(settings, lambda cfg: build_backend(cfg, settings.chat))
        stack.push_async_callback(router.aclose)
        await router.start()
        for status in router.status():
            if status.up:  # a backend that is down was already logged by the health check
                log.info("backend ready", extra={"backend": status.name, "models": status.models})

        gate, limiter = await build_limit_gate(settings)
        stack.push_async_callback(limiter.aclose)
        if settings.redis_url is not None:
            limiter_description = (
                f"Redis at {service_address(settings.redis_url.get_secret_value())}"
            )
        else:
            limiter_description = "in-memory limiter"
        log.info("limiter ready", extra={"limiter": limiter_description})

        prompts = PromptService(stores.prompts)
        if settings.prompts:
            created = await prompts.seed(settings.prompts, SEED_OWNER)
            log.info("prompts seeded", extra={"created": created})

        chat = ChatService(
            stores,
            router,
            gate,
            prompts,
            settings.chat,
            expand_history_commands=settings.webui.expand_prompt_commands,
        )
        stack.push_async_callback(chat.drain, settings.chat.shutdown_grace)
        yield Services(
            settings=settings,
            stores=stores,
            router=router,
            limits=gate,
            chat=chat,
            prompts=prompts,
            extras={
                "limiter": limiter,
                "limiter_description": limiter_description,
                "backends": router.backends,
            },
        )
