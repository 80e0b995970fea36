"""Build the hub's services from settings, and close them again: shared by `chathub serve` (the
app lifespan), `chathub chat` (the console) and `chathub check`.

This is the one place that reads `HubSettings` to build the core: the core's classes take their
own configuration sections (`settings.chat`, `settings.routing`, `settings.limits`) or plain
values, never the app's settings. Everything is created here, on the running loop, never at
import time. Closing runs in reverse: running replies are stopped (and stored as interrupted)
before the router, the limiter and the store go away.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from hub.core.coordination.errors import CoordinationUnavailable
from hub.core.routing_config import DEFAULT_BACKEND, BackendConfig
from hub.core.urls import service_address
from hub.runtime import Services

if TYPE_CHECKING:
    from hub.core.coordination.bundle import Coordination
    from hub.core.jobs.service import JobService
    from hub.core.limits.base import Limiter
    from hub.core.limits.gate import PolicyLimitGate
    from hub.core.ports import ChatBackend, JobQueue, SlotScheduler, Stores
    from hub.core.router import Router
    from hub.core.routing.state import Target
    from hub.core.stores.fronted import FrontedStores
    from hub.settings import HubSettings

log = logging.getLogger(__name__)

# Owner recorded on global prompts seeded from the YAML config (no person created them).
SEED_OWNER = "system"


async def open_stores(settings: HubSettings) -> FrontedStores:
    """Open MongoDB when `HUB_MONGODB_URL` is set, else the embedded SQLite file in the data dir,
    with users cached and usage buffered in front of it (`hub.core.stores.fronted`); raises
    `StoreError` with a sentence saying what to fix."""
    from hub.core.stores.fronted import FrontedStores

    # Imported here: pymongo is slow to import and unused by embedded deployments.
    if settings.mongodb_url is not None:
        from hub.core.stores.mongo import open_mongo

        url = settings.mongodb_url.get_secret_value()
        return FrontedStores(await open_mongo(url, settings.mongodb_db))
    from hub.core.stores.sqlite import open_sqlite

    return FrontedStores(await open_sqlite(settings.data_dir))


def backend_configs(settings: HubSettings) -> list[BackendConfig]:
    """`routing.backends`, or one Ollama backend named "ollama" at `HUB_OLLAMA_URL`."""
    if settings.routing.backends:
        return list(settings.routing.backends)
    return [BackendConfig(name=DEFAULT_BACKEND, url=settings.ollama_url)]


def build_backends(settings: HubSettings) -> list[ChatBackend]:
    """One client per configured backend, with the pipeline's timeouts (call on the loop)."""
    from hub.core.backends import build_backend

    return [build_backend(cfg, settings.chat) for cfg in backend_configs(settings)]


def build_router(
    settings: HubSettings,
    backends: list[ChatBackend] | None = None,
    slots: SlotScheduler[Target] | None = None,
) -> Router:
    """The `Router` for `settings`, over `backends` (built from the settings when not given),
    handing out backend slots through `slots` (the embedded scheduler when not given)."""
    from hub.core.router import Router

    config = settings.routing.model_copy(update={"backends": backend_configs(settings)})
    if backends is None:
        backends = build_backends(settings)
    return Router(config, backends, default_model=settings.default_model, slots=slots)


async def open_coordination(settings: HubSettings) -> Coordination:
    """What this process shares with the other replicas: Redis when `HUB_REDIS_URL` is set,
    else the embedded twins. Nothing connects here (`Coordination.start()` does)."""
    from hub.core.coordination.bundle import embedded, on_redis

    queue_limit = settings.routing.queue_limit
    if settings.redis_url is None:
        return embedded(settings.coordination, queue_limit)
    url = settings.redis_url.get_secret_value()
    where = f"Redis at {service_address(url)}"
    return await on_redis(url, settings.coordination, queue_limit, description=where)


def limiter_description(settings: HubSettings) -> str:
    if settings.redis_url is None:
        return "in-memory limiter"
    return f"Redis at {service_address(settings.redis_url.get_secret_value())}"


async def build_limiter(settings: HubSettings) -> Limiter:
    """Redis when `HUB_REDIS_URL` is set, else the in-memory limiter. Nothing connects here:
    redis-py connects on first use and reconnects by itself."""
    if settings.redis_url is None:
        from hub.core.limits.memory import MemoryRateLimiter

        return MemoryRateLimiter()
    # redis-py costs ~200 ms to import: only pay it when Redis is configured.
    from hub.core.limits.redis import RedisRateLimiter

    return await RedisRateLimiter.connect(
        settings.redis_url.get_secret_value(), namespace=settings.coordination.namespace
    )


async def build_limit_gate(settings: HubSettings) -> tuple[PolicyLimitGate, Limiter]:
    """The policy gate over the configured limiter; the limiter too, for readiness (`ping`)
    and shutdown (`aclose`)."""
    from hub.core.limits.gate import PolicyLimitGate

    limiter = await build_limiter(settings)
    return PolicyLimitGate(settings.limits, limiter), limiter


async def open_jobs(
    settings: HubSettings, stores: Stores, coordination: Coordination
) -> JobService:
    """The job service: its queue in Redis (a stream every replica reads) when coordination
    is shared, else in this process (queued again from the store at start)."""
    from hub.core.jobs.local_queue import LocalJobQueue
    from hub.core.jobs.service import JobService

    queue: JobQueue
    if coordination.link is None:
        queue = LocalJobQueue()
    else:
        from hub.core.jobs.redis_queue import RedisJobQueue

        queue = RedisJobQueue(coordination.link, settings.jobs.claim_after)
        with contextlib.suppress(CoordinationUnavailable):  # made again by the first worker
            await queue.ensure_group()
    return JobService(
        stores.jobs,
        queue,
        settings.jobs,
        replica=coordination.replica,
        feed=coordination.feed,
    )


@asynccontextmanager
async def open_services(settings: HubSettings) -> AsyncIterator[Services]:
    """Open the store, backends and router, limits, prompts and the ChatService; close on exit.

    Raises `StoreError` when the store cannot be opened (the message says what to fix).
    """
    from hub.core.chat import ChatService
    from hub.core.conversation_log import ConversationLog
    from hub.core.prompts import PromptService
    from hub.core.stores.spool import FILE_NAME, TurnSpool

    async with AsyncExitStack() as stack:
        stores = await open_stores(settings)
        stack.push_async_callback(stores.aclose)
        log.info("store ready", extra={"store": stores.description})

        coordination = await open_coordination(settings)
        stack.push_async_callback(coordination.aclose)
        stores.follow(coordination.feed)

        router = build_router(settings, slots=coordination.slots)
        stack.push_async_callback(router.aclose)
        await router.start()
        for status in router.status():
            if status.up:  # a backend that is down was already logged by the health check
                log.info("backend ready", extra={"backend": status.name, "models": status.models})

        gate, limiter = await build_limit_gate(settings)
        stack.push_async_callback(limiter.aclose)
        log.info("limiter ready", extra={"limiter": limiter_description(settings)})

        prompts = PromptService(stores.prompts)
        prompts.follow(coordination.feed)
        if settings.prompts:
            created = await prompts.seed(settings.prompts, SEED_OWNER)
            log.info("prompts seeded", extra={"prompts_created": created})

        limit = settings.chat.spool_turns
        spool = TurnSpool(settings.data_dir / FILE_NAME) if limit else None
        conversations = ConversationLog(
            stores.conversations, stores.ping, stores.outage, spool, limit
        )
        await conversations.start()  # writes back what a previous process left in the spool
        stack.push_async_callback(conversations.aclose)

        chat = ChatService(
            stores,
            router,
            gate,
            prompts,
            settings.chat,
            expand_history_commands=settings.webui.expand_prompt_commands,
            turns=coordination.turns,
            conversations=conversations,
        )
        stack.push_async_callback(chat.drain, settings.chat.shutdown_grace)
        jobs = await open_jobs(settings, stores, coordination)
        await coordination.start()  # every subscriber is wired: listen from now on
        if coordination.shared:
            log.info(
                "coordination ready",
                extra={"coordination": coordination.description, "replica": coordination.replica},
            )
        yield Services(
            settings=settings,
            stores=stores,
            router=router,
            limits=gate,
            chat=chat,
            prompts=prompts,
            coordination=coordination,
            jobs=jobs,
            extras={
                "limiter": limiter,
                "limiter_description": limiter_description(settings),
                "backends": router.backends,
            },
        )
