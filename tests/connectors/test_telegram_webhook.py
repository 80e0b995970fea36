"""Webhook mode: the Litestar route checks the secret and feeds updates to the Application."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from hub.connectors.telegram.webhook import SECRET_HEADER
from tests.connectors.conftest import Start
from tests.fakes.telegram import FakeTelegram
from tests.support.chat import ScriptedChat
from tests.support.wait import until


def update(text: str) -> dict[str, object]:
    return {
        "update_id": 1,
        "message": {
            "message_id": 5,
            "date": 0,
            "chat": {"id": 55, "type": "private", "first_name": "Ada"},
            "from": {"id": 55, "is_bot": False, "first_name": "Ada"},
            "text": text,
        },
    }


async def test_webhook_checks_the_secret_and_queues_updates(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    chat = ScriptedChat(lambda m: f"echo {m.text}")
    connector = await start_connector(
        chat,
        mode="webhook",
        webhook_secret="s3cret",
        webhook_url="https://hub.example/webhooks/telegram",
        drafts=False,
    )
    assert fake_telegram.webhook is not None
    assert fake_telegram.webhook["secret_token"] == "s3cret"
    assert not fake_telegram.calls_of("getUpdates")  # no polling in webhook mode

    app = Litestar(route_handlers=list(connector.routes()))
    async with AsyncTestClient(app=app) as client:
        wrong = await client.post(
            "/webhooks/telegram", json=update("x"), headers={SECRET_HEADER: "no"}
        )
        missing = await client.post("/webhooks/telegram", json=update("x"))
        assert (wrong.status_code, missing.status_code) == (403, 403)
        good = await client.post(
            "/webhooks/telegram", json=update("hello"), headers={SECRET_HEADER: "s3cret"}
        )
        assert good.status_code == 200
        bad_body = await client.post(
            "/webhooks/telegram", content=b"not json", headers={SECRET_HEADER: "s3cret"}
        )
        assert bad_body.status_code == 400

    await until(lambda: chat.finished == 1 and not connector.busy)
    assert [m.text for m in chat.received] == ["hello"]
    assert [m.text for m in fake_telegram.chat_messages(55)] == ["echo hello"]


async def test_polling_mode_has_no_routes(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    connector = await start_connector(ScriptedChat(lambda m: "x"))
    assert list(connector.routes()) == []


async def test_a_body_that_is_json_but_no_update_is_a_400(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    """Issue 17, item 6: JSON that is not an update object, or nested past the parser's
    recursion limit, is refused with Telegram's error shape instead of failing with a 500."""
    chat = ScriptedChat(lambda m: "x")
    connector = await start_connector(
        chat,
        mode="webhook",
        webhook_secret="s3cret",
        webhook_url="https://hub.example/webhooks/telegram",
        drafts=False,
    )
    bodies = [b"[1]", b"5", b'"x"', b"null", b"{}", b'{"update_id": 1, "message": 5}']
    bodies += [b'{"update_id": 1, "message": {"chat": 3}}', b"[" * 100_000 + b"]" * 100_000]
    app = Litestar(route_handlers=list(connector.routes()))
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as client:
        statuses = []
        for body in bodies:
            response = await client.post(
                "/webhooks/telegram", content=body, headers={SECRET_HEADER: "s3cret"}
            )
            statuses.append(response.status_code)
            assert response.json()["ok"] is False, response.text
    assert statuses == [400] * len(bodies)
    assert chat.received == []
