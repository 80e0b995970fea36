"""Interactions in the fake Discord: callbacks, follow-up webhooks, application commands.

An interaction must be answered within `ack_deadline` seconds (3 s at Discord) or its callback
fails with 10062 Unknown interaction; it can be answered once (40060 otherwise). Its token then
drives the original response and follow-ups through `/webhooks/{app}/{token}` for `token_ttl`
seconds (15 minutes), after which 50027 Invalid Webhook Token. After a deferred response
(type 5, "Bot is thinking…") the first follow-up fills the loading message, as at Discord.
Application commands are validated like Discord (names, descriptions, option order, limits)
and keep their id across bulk overwrites.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord_messages import EPHEMERAL, MessageApi
from tests.fakes.discord_rest import ApiError, Req, Rest, form_error
from tests.fakes.discord_state import Command, Interaction
from tests.fakes.discord_world import CHAT_INPUT_COMMAND, LOADING, Posted

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord

_NAME = re.compile(r"^[-_\w]{1,32}$")
UNKNOWN_INTERACTION = (404, 10062, "Unknown interaction")
UNKNOWN_WEBHOOK = (404, 10015, "Unknown Webhook")
INVALID_TOKEN = (401, 50027, "Invalid Webhook Token")


class InteractionApi:
    def __init__(self, fake: FakeDiscord, rest: Rest, messages: MessageApi) -> None:
        self.fake, self.rest, self.world, self.messages = fake, rest, fake.world, messages
        self.ack_deadline = 3.0
        self.token_ttl = 900.0

    def routes(self, app: web.Application) -> None:
        add = self.rest.add
        add(
            app,
            "POST",
            "/interactions/{interaction_id}/{token}/callback",
            "interaction.callback",
            self._callback,
            "interaction_id",
            auth=False,
        )
        hook = "/webhooks/{app_id}/{token}"
        msg = hook + "/messages/{message_id}"
        add(app, "POST", hook, "webhook", self._execute, "token", auth=False)
        add(app, "GET", msg, "webhook", self._get, "token", auth=False)
        add(app, "PATCH", msg, "webhook", self._edit, "token", auth=False)
        add(app, "DELETE", msg, "webhook", self._delete, "token", auth=False)
        apps = "/applications/{app_id}"
        for path in (apps + "/commands", apps + "/guilds/{guild_id}/commands"):
            add(app, "GET", path, "commands", self._list_commands, "guild_id")
            add(app, "PUT", path, "commands", self._put_commands, "guild_id")

    # --- callbacks ------------------------------------------------------------------------------

    async def _callback(self, req: Req) -> tuple[int, Any]:
        found = self.world.interactions.get(req.id("interaction_id"))
        if found is None or found.token != req.match["token"]:
            raise ApiError(*UNKNOWN_INTERACTION)
        if found.response_type is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if req.now - found.created > self.ack_deadline:
            raise ApiError(*UNKNOWN_INTERACTION)
        body = req.body or {}
        kind, data = int(body.get("type", 0)), body.get("data") or {}
        message = await self._respond(found, kind, data)
        found.response_type, found.responded_at = kind, req.now
        if req.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        out: dict[str, Any] = {
            "interaction": {
                "id": str(found.id),
                "type": found.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message and message.flags & EPHEMERAL),
            },
            "resource": {"type": kind},
        }
        if message is not None:
            out["interaction"]["response_message_id"] = str(message.id)
            out["resource"]["message"] = self.world.message(message)
        return 200, out

    async def _respond(self, found: Interaction, kind: int, data: dict[str, Any]) -> Posted | None:
        channel = self.world.channels[found.channel_id]
        if kind == 8:
            if found.type != 4:
                raise ApiError(400, 50035, "Invalid Form Body")
            choices = list(data.get("choices") or [])
            if len(choices) > 25 or any(
                not 1 <= len(str(c.get("name", ""))) <= 100 for c in choices
            ):
                raise form_error("data.choices", "BASE_TYPE_BAD_LENGTH", "Must be 25 or fewer.")
            found.choices = choices
            return None
        if found.type == 4:
            raise ApiError(400, 40043, "This interaction type can only be answered with choices")
        if kind in (4, 5):
            flags = int(data.get("flags") or 0)
            posted = await self.messages.post(
                channel,
                self.world.bot,
                data if kind == 4 else {},
                webhook=True,
                interaction_id=found.id,
                kind=CHAT_INPUT_COMMAND if found.type == 2 else 0,
                flags=flags | (LOADING if kind == 5 else 0),
            )
            found.original_id = posted.id
            return posted
        if kind in (6, 7):
            if found.type != 3 or found.message_id is None:
                raise ApiError(400, 40042, "This interaction type cannot update a message")
            if kind == 7:
                await self.messages.edit(self.world.messages[found.message_id], data, found.created)
            return None
        if kind == 9:
            return None
        raise form_error("type", "BASE_TYPE_CHOICES", "Value must be one of {1, 4, 5, 6, 7, 8, 9}.")

    # --- follow-ups through the interaction webhook --------------------------------------------

    def _interaction(self, req: Req) -> Interaction:
        if req.id("app_id") != self.world.application_id:
            raise ApiError(*UNKNOWN_WEBHOOK)
        token = req.match["token"]
        found = next((i for i in self.world.interactions.values() if i.token == token), None)
        if found is None:
            raise ApiError(*UNKNOWN_WEBHOOK)
        if req.now - found.created > self.token_ttl:
            raise ApiError(*INVALID_TOKEN)
        return found

    def _message(self, req: Req, found: Interaction) -> Posted:
        raw = req.match["message_id"]
        message_id = found.original_id if raw == "@original" else req.id("message_id")
        posted = self.world.messages.get(message_id or 0)
        if posted is None or posted.deleted or not found.owns(posted.id):
            raise ApiError(404, 10008, "Unknown Message")
        return posted

    async def _execute(self, req: Req) -> tuple[int, Any]:
        found = self._interaction(req)
        if found.response_type is None:
            raise ApiError(*UNKNOWN_WEBHOOK)
        body = req.body or {}
        original = self.world.messages.get(found.original_id or 0)
        if original is not None and original.flags & LOADING and not original.deleted:
            await self.messages.edit(original, body, req.now)  # the first follow-up after a defer
            posted = original
        else:
            channel = self.world.channels[found.channel_id]
            posted = await self.messages.post(
                channel, self.world.bot, body, webhook=True, interaction_id=found.id
            )
            found.followups.append(posted.id)
        if req.query.get("wait") in ("1", "true", "True"):
            return 200, self.world.message(posted)
        return 204, None

    async def _get(self, req: Req) -> tuple[int, Any]:
        found = self._interaction(req)
        return 200, self.world.message(self._message(req, found))

    async def _edit(self, req: Req) -> tuple[int, Any]:
        found = self._interaction(req)
        posted = self._message(req, found)
        await self.messages.edit(posted, req.body or {}, req.now)
        return 200, self.world.message(posted)

    async def _delete(self, req: Req) -> tuple[int, Any]:
        found = self._interaction(req)
        await self.messages.delete(self._message(req, found))
        return 204, None

    # --- application commands -------------------------------------------------------------------

    def _scope(self, req: Req) -> int | None:
        if req.id("app_id") != self.world.application_id:
            raise ApiError(403, 50001, "Missing Access")
        if "guild_id" not in req.match:
            return None
        guild_id = req.id("guild_id")
        if guild_id not in self.world.guilds:
            raise ApiError(403, 50001, "Missing Access")
        return guild_id

    async def _list_commands(self, req: Req) -> tuple[int, Any]:
        scope = self._scope(req)
        found = [c for (g, _), c in self.world.commands.items() if g == scope]
        return 200, [self.world.command_json(c) for c in found]

    async def _put_commands(self, req: Req) -> tuple[int, Any]:
        scope = self._scope(req)
        bodies = req.body if isinstance(req.body, list) else None
        if bodies is None:
            raise form_error("_", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        if len(bodies) > 100:
            raise form_error("_", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        names = [str(b.get("name", "")) for b in bodies]
        if len(set(names)) != len(names):
            raise form_error(
                "_",
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        for i, body in enumerate(bodies):
            _check_command(body, str(i))
        old = {name: c for (g, name), c in self.world.commands.items() if g == scope}
        for name in old:
            del self.world.commands[(scope, name)]
        for body in bodies:
            previous = old.get(body["name"])
            command_id = previous.id if previous else self.world.ids.next()
            self.world.commands[(scope, body["name"])] = Command(
                command_id, scope, dict(body), self.world.ids.next()
            )
        found = [self.world.commands[(scope, n)] for n in names]
        return 200, [self.world.command_json(c) for c in found]


def _check_command(body: dict[str, Any], at: str) -> None:
    kind = int(body.get("type", 1))
    name = str(body.get("name", ""))
    if kind == 1 and (not _NAME.match(name) or name != name.lower()):
        raise form_error(
            f"{at}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
        )
    if kind == 1 and not 1 <= len(str(body.get("description", ""))) <= 100:
        raise form_error(
            f"{at}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    _check_options(list(body.get("options") or []), f"{at}.options")


def _check_options(options: list[dict[str, Any]], at: str) -> None:
    if len(options) > 25:
        raise form_error(at, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    for i, option in enumerate(options):
        where = f"{at}.{i}"
        if not _NAME.match(str(option.get("name", ""))):
            raise form_error(
                f"{where}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if not 1 <= len(str(option.get("description", ""))) <= 100:
            raise form_error(
                f"{where}.description",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if option.get("autocomplete") and option.get("choices"):
            raise form_error(
                f"{where}.autocomplete",
                "AUTOCOMPLETE_CHOICES_MUTUALLY_EXCLUSIVE",
                "Autocomplete and choices cannot both be set",
            )
        if len(option.get("choices") or []) > 25:
            raise form_error(f"{where}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
        if option.get("type") in (1, 2):
            _check_options(list(option.get("options") or []), f"{where}.options")
            continue
        if option.get("required") and seen_optional:
            raise form_error(
                where,
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            )
        seen_optional = seen_optional or not option.get("required")
