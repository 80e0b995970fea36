"""Stop tokens of the replies in flight (`StopRegistry`) in Redis, so that a Stop pressed on a
message another replica streams finds the reply (the twin: `local.LocalStops`).

On Redis each token is one key (`{<ns>:stop:<token>}`, its own slot) holding the entry as
JSON, written when the reply starts and deleted when it ends; a replica that dies leaves its
tokens to expire after `TOKEN_TTL`. While Redis cannot be reached, this replica's own tokens
still work (they are kept here too).
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from hub.core.coordination.local import LocalStops
from hub.core.coordination.redis_link import CoordinationUnavailable, RedisLink
from hub.core.models import ConversationKey
from hub.core.ports.coordination import StopEntry

log = logging.getLogger(__name__)

TOKEN_TTL = 6 * 3600  # seconds: longer than any reply; ends tokens a dead replica left


class RedisStops:
    """`StopRegistry` on Redis, with this replica's own tokens kept locally as well."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._local = LocalStops()

    def _key(self, token: str) -> str:
        return self._link.key(f"stop:{token}")

    async def issue(self, token: str, entry: StopEntry) -> None:
        await self._local.issue(token, entry)
        data = json.dumps(_encode(entry))
        # Unreachable Redis: logged by the link; the token still works on this replica.
        with contextlib.suppress(CoordinationUnavailable):
            await self._link.run(lambda c: c.set(self._key(token), data, ex=TOKEN_TTL))

    async def revoke(self, token: str) -> None:
        await self._local.revoke(token)
        with contextlib.suppress(CoordinationUnavailable):  # else it expires by itself
            await self._link.run(lambda c: c.delete(self._key(token)))

    async def lookup(self, token: str) -> StopEntry | None:
        found = await self._local.lookup(token)
        if found is not None:
            return found
        try:
            raw = await self._link.run(lambda c: c.get(self._key(token)))
        except CoordinationUnavailable:
            return None
        if raw is None:
            return None
        try:
            return _decode(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed stop token entry")
            return None


def _encode(entry: StopEntry) -> dict[str, Any]:
    key = entry.key
    return {
        "platform": key.platform,
        "chat_id": key.chat_id,
        "thread_id": key.thread_id,
        "user_id": key.user_id,
        "asker": entry.asker,
        "workspace": entry.workspace,
    }


def _decode(data: dict[str, Any]) -> StopEntry:
    key = ConversationKey(
        str(data["platform"]), str(data["chat_id"]), str(data["thread_id"]), str(data["user_id"])
    )
    return StopEntry(key, str(data["asker"]), str(data["workspace"]))
