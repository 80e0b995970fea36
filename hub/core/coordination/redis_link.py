"""One replica's link to the shared Redis: commands and Lua scripts with a deadline, one pub/sub
connection fanned out to listeners, and a heartbeat that keeps this replica's leases alive.

Keys are named `{<namespace>:<area>}:<rest>`: the part in braces is the Redis Cluster hash tag,
so every key of one area lands in one slot and the area's multi-key scripts run on a Cluster.
Areas are small on purpose (the fair queue, one conversation, the job stream): different areas
may live on different shards. Channels are plain names (`<namespace>:<area>:<rest>`); classic
pub/sub reaches every node of a Cluster.

Every replica has an id (`replica`), random per process, which names its leases and its own
channel (stops for replies it runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.exceptions import NoScriptError, RedisError

from hub.core.coordination.errors import CoordinationUnavailable

__all__ = ["RESET", "CoordinationUnavailable", "RedisLink", "Script"]

log = logging.getLogger(__name__)

Listener = Callable[[str], None]
Beat = Callable[[], Awaitable[None]]
POOL_SIZE = 32  # connections per replica: commands, job workers' blocking reads, pub/sub
RESET = ""  # delivered to every listener after the pub/sub connection was lost and is back


def read_script(name: str) -> str:
    """A Lua script shipped beside this module (blocking: call it off the event loop)."""
    files = resources.files("hub.core.coordination")
    return files.joinpath(name).read_text(encoding="utf-8")


class Script:
    """A Lua script, loaded into Redis by its SHA on first use and again after a flush."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha: str | None = None


class RedisLink:
    """See the module docstring. Build with `connect`, then `start()` on the running loop."""

    def __init__(
        self,
        client: Redis,
        *,
        namespace: str = "chathub",
        replica: str | None = None,
        timeout: float = 1.0,
        lease_ttl: float = 15.0,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.replica = replica or secrets.token_hex(4)
        self.timeout = timeout
        self.lease_ttl = lease_ttl
        self._listeners: dict[str, list[Listener]] = {}
        self._pubsub: PubSub | None = None
        self._subscribed: set[str] = set()
        self._reader: asyncio.Task[None] | None = None
        self._beats: list[Beat] = []
        self._heart: asyncio.Task[None] | None = None
        self._down = False
        self._closed = False
        self._listening = asyncio.Event()

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        namespace: str = "chathub",
        timeout: float = 1.0,
        lease_ttl: float = 15.0,
        replica: str | None = None,
    ) -> RedisLink:
        """A link for `url` (no I/O: redis-py connects on first use and reconnects itself).

        A blocking pool: a call finding every connection busy waits for one (within its own
        deadline) instead of failing with "Too many connections".
        """
        pool = BlockingConnectionPool.from_url(
            url, socket_connect_timeout=timeout, max_connections=POOL_SIZE, timeout=None
        )
        client = Redis.from_pool(pool)
        return cls(
            client, namespace=namespace, timeout=timeout, lease_ttl=lease_ttl, replica=replica
        )

    # --- names ---------------------------------------------------------------------------------

    def key(self, area: str, *rest: str) -> str:
        """`{namespace:area}:rest…`: every key of one area shares a Cluster slot."""
        return ":".join(("{" + f"{self.namespace}:{area}" + "}", *rest))

    def channel(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    # --- commands ------------------------------------------------------------------------------

    async def load(self, name: str) -> Script:
        """The Lua script `name` shipped with this package (read off the event loop)."""
        return Script(await asyncio.to_thread(read_script, name))

    @property
    def ttl_ms(self) -> int:
        return round(self.lease_ttl * 1000)

    async def run(
        self, op: Callable[[Redis], Awaitable[Any]], *, within: float | None = None
    ) -> Any:
        """`op(client)` within `within` seconds (else the link's deadline); Redis failures
        become `CoordinationUnavailable`."""
        if self._closed:
            raise CoordinationUnavailable("this replica's Redis link is closed")
        task = asyncio.current_task()
        cancels = task.cancelling() if task is not None else 0
        deadline = self.timeout if within is None else within
        try:
            async with asyncio.timeout(deadline):
                result = await op(self.client)
        except RedisError as exc:
            _cancelled_meanwhile(exc)
            self._went_down(exc)
            raise CoordinationUnavailable(f"Redis failed: {exc}") from exc
        except TimeoutError as exc:
            _cancelled_meanwhile(exc)
            self._went_down(exc)
            raise CoordinationUnavailable(f"Redis took over {deadline} s") from exc
        if task is not None and task.cancelling() > cancels:
            # redis-py 8.2 can finish a command it was cancelled in and drop the
            # cancellation (observed on SET/GET); a cancelled task must stop here.
            raise asyncio.CancelledError
        self._came_back()
        return result

    async def script(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run `script` (EVALSHA, loading it when Redis does not know it)."""

        async def call(client: Redis) -> Any:
            if script.sha is None:
                script.sha = str(await client.script_load(script.source))
            try:
                return await client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:  # Redis restarted, flushed its scripts or failed over
                script.sha = str(await client.script_load(script.source))
                return await client.evalsha(script.sha, len(keys), *keys, *args)

        return await self.run(call)

    async def publish(self, channel: str, payload: str) -> int:
        """Publish; returns how many subscribers got it."""
        return int(await self.run(lambda client: client.publish(channel, payload)))

    def _went_down(self, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            log.error("Redis coordination unreachable", extra={"error": str(exc) or "timeout"})

    def _came_back(self) -> None:
        if self._down:
            self._down = False
            log.warning("Redis coordination is back")

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def down(self) -> bool:
        """Whether the last command failed."""
        return self._down

    # --- pub/sub -------------------------------------------------------------------------------

    def subscribe(self, channel: str, listener: Listener) -> Callable[[], None]:
        """Call `listener(payload)` for each message on `channel` (and `RESET` after an outage
        of the subscription, when messages may have been missed). Returns the unsubscribe."""
        self._listeners.setdefault(channel, []).append(listener)

        def unsubscribe() -> None:
            listeners = self._listeners.get(channel, [])
            if listener in listeners:
                listeners.remove(listener)

        return unsubscribe

    async def _read(self) -> None:
        broken = False
        while True:
            try:
                pubsub = await self._pubsub_connected()
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except (RedisError, OSError) as exc:
                _cancelled_meanwhile(exc)
                if not broken:
                    log.warning("Redis subscription lost", extra={"error": str(exc)})
                broken = True
                await self._drop_pubsub()
                await asyncio.sleep(0.5)
                continue
            self._listening.set()
            if broken:  # back: anything may have changed meanwhile
                broken = False
                log.info("Redis subscription back")
                for channel in list(self._listeners):
                    self._deliver(channel, RESET)
            if message is not None and message.get("type") == "message":
                channel = _text(message["channel"])
                self._deliver(channel, _text(message["data"]))

    async def _pubsub_connected(self) -> PubSub:
        if self._pubsub is None:
            self._pubsub = self.client.pubsub()
            self._subscribed = set()
        wanted = [c for c in self._listeners if c not in self._subscribed]
        if wanted:
            await self._pubsub.subscribe(*wanted)
            self._subscribed.update(wanted)
        elif not self._subscribed:
            # get_message needs a subscription; this channel is never published to.
            idle = self.channel("idle")
            await self._pubsub.subscribe(idle)
            self._subscribed.add(idle)
        return self._pubsub

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _deliver(self, channel: str, payload: str) -> None:
        for listener in list(self._listeners.get(channel, [])):
            try:
                listener(payload)
            except Exception:
                log.exception("coordination listener failed", extra={"channel": channel})

    # --- heartbeat -----------------------------------------------------------------------------

    def on_heartbeat(self, beat: Beat) -> None:
        """Run `beat()` every third of the lease TTL (renewing leases, sweeping expired ones)."""
        self._beats.append(beat)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            for beat in list(self._beats):
                try:
                    await beat()
                except CoordinationUnavailable:
                    pass  # logged once by `run`; the next beat tries again
                except Exception:
                    log.exception("coordination heartbeat failed")

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self, wait: float = 2.0) -> None:
        """Start reading pub/sub messages and beating (call once, on the running loop, after
        the listeners known at start-up subscribed); waits up to `wait` seconds for the
        subscription, so no message published after start-up is missed."""
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="redis-coordination-reader")
            self._heart = asyncio.create_task(self._heartbeat(), name="redis-coordination-beat")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._listening.wait()

    async def ping(self) -> None:
        await self.run(lambda client: client.ping())

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._reader, self._heart):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._reader = self._heart = None
        await self._drop_pubsub()
        await self.client.aclose()


def _cancelled_meanwhile(exc: BaseException) -> None:
    """Raise CancelledError if the task was cancelled: redis-py may turn a cancellation that
    cuts a command into a connection error, and the cancellation must not be lost."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
