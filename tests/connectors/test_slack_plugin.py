"""The Slack plugin's settings section, its routes, and the webhook adapter's own answers."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pydantic import ValidationError
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from hub.connectors.slack import plugin
from hub.connectors.slack.settings import SlackSettings
from hub.connectors.slack.webhook import PATH, webhook_route

BOT = "xoxb-1-abc"


def test_off_without_a_bot_token_and_the_mode_follows_the_tokens() -> None:
    assert not plugin.enabled(SlackSettings())
    socket = SlackSettings(bot_token=BOT, app_token="xapp-1-x", signing_secret="s")
    http = SlackSettings(bot_token=BOT, signing_secret="s")
    assert socket.mode == "socket" and http.mode == "http"  # both set: Socket Mode
    assert plugin.routes(socket) == [] and len(plugin.routes(http)) == 1


def test_values_are_normalised() -> None:
    settings = SlackSettings(
        bot_token=f" {BOT} ", app_token="xapp-1-x", base_url="http://fake:9/api", command="Summon"
    )
    assert settings.bot_token is not None and settings.bot_token.get_secret_value() == BOT
    assert settings.base_url == "http://fake:9/api/"  # slack_sdk's form
    assert settings.command == "/summon"
    assert SlackSettings(bot_token="", app_token="").bot_token is None  # empty means unset


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"bot_token": "xoxp-user"}, "bot_token", "is not a bot token"),
        ({"bot_token": "xoxb-a b", "app_token": "xapp-1"}, "bot_token", "is not a bot token"),
        ({"bot_token": BOT, "app_token": "xoxb-x"}, "app_token", "is not an app-level token"),
        ({"bot_token": BOT}, "", "app_token: required with HUB_SLACK__BOT_TOKEN"),
        ({"command": "/two words"}, "command", "is not a slash command name"),
        ({"base_url": "ftp://slack"}, "base_url", "ftp://"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_mistakes_are_refused_naming_the_field(
    values: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        SlackSettings(**values)
    [error] = info.value.errors()
    assert tuple(error["loc"]) == ((field,) if field else ())
    assert message in error["msg"] and "xoxp-user" not in error["msg"]


def test_access_lists_come_from_the_environment_form() -> None:
    settings = SlackSettings(allow_users="U1, U2", allow_chats='["C1"]', admins="U1")
    assert settings.allow_users == ("U1", "U2") and settings.allow_chats == ("C1",)


class Answering:
    def __init__(self) -> None:
        self.seen: list[AsyncBoltRequest] = []

    async def handle_http(self, request: AsyncBoltRequest) -> BoltResponse | None:
        self.seen.append(request)
        return BoltResponse(
            status=200, body='{"ok": true}', headers={"content-type": "application/json"}
        )


async def test_the_webhook_answers_503_while_not_running_and_400_for_garbage() -> None:
    target = Answering()
    running: list[Any] = [None]
    app = Litestar(route_handlers=[webhook_route(lambda request: running[0])])
    async with AsyncTestClient(app=app) as client:
        down = await client.post(PATH, json={"type": "event_callback"})
        assert (down.status_code, down.json()) == (
            503,
            {"error": "The Slack connector is not running."},
        )
        running[0] = target
        for body, kind in [
            (b"{not json", "application/json"),
            (b"\xff\xfe", "application/json"),
            (b"[1, 2]", "application/json"),
            (b"payload=%7Bbad", "application/x-www-form-urlencoded"),
        ]:
            bad = await client.post(PATH, content=body, headers={"Content-Type": kind})
            assert (bad.status_code, bad.json()) == (
                400,
                {"error": "The body is not a Slack request."},
            )
        good = await client.post(PATH, json={"type": "event_callback"}, params={"x": "1"})
        assert (good.status_code, good.json()) == (200, {"ok": True})
    assert target.seen[0].query == {"x": ["1"]}
    assert target.seen[0].headers["content-type"] == ["application/json"]
