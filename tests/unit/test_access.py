"""Access settings from the environment and YAML, and the allow-list rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.connectors.telegram.settings import TelegramSettings
from hub.core.access import Access, AccessSettings
from hub.core.models import IncomingMessage, PlatformUser
from hub.settings import HubSettings, SettingsError, load_settings


def section(settings: HubSettings) -> TelegramSettings:
    found = settings.section("telegram")
    assert isinstance(found, TelegramSettings)
    return found


def msg(user: str, chat: str, *, group: bool = False, workspace: str = "") -> IncomingMessage:
    who = PlatformUser("slack", user, user)
    return IncomingMessage("slack", chat, who, "hi", is_group=group, workspace_id=workspace)


def test_lists_from_the_environment_as_comma_separated_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_TELEGRAM__ALLOW_USERS", "111, 222,,333")
    monkeypatch.setenv("HUB_TELEGRAM__ADMINS", "111")
    monkeypatch.setenv("HUB_TELEGRAM__ALLOW_CHATS", "-1001234")
    telegram = section(load_settings())
    assert telegram.allow_users == ("111", "222", "333")
    assert telegram.admins == ("111",)
    assert telegram.allow_chats == ("-1001234",)


def test_lists_from_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        "telegram:\n  allow_users: [111, '222']\n  admins: 111\n"
        "  allow_chats: [-1001234, -1005678]\n  refusal_in_groups: true\n"
    )
    monkeypatch.setenv("HUB_CONFIG", str(config))
    telegram = section(load_settings())
    assert telegram.allow_users == ("111", "222")
    assert telegram.admins == ("111",)
    assert telegram.allow_chats == ("-1001234", "-1005678")
    assert telegram.refusal_in_groups and telegram.refusal_in_private


@pytest.mark.parametrize(
    ("value", "problem"),
    [("[1, 2", "not a JSON list"), ('[{"a": 1}]', "is not a platform id")],
)
def test_a_bad_list_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("HUB_TELEGRAM__ALLOW_USERS", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("HUB_TELEGRAM__ALLOW_USERS: ") and problem in message
    assert "\n" not in message


async def test_open_by_default() -> None:
    access = Access()
    assert (await access.check(msg("anyone", "D1"))).allowed


async def test_people_anywhere_and_everyone_in_allowed_chats_or_workspaces() -> None:
    access = Access(AccessSettings(allow_users=("U1",), allow_chats=("C9", "T7"), admins=("UA",)))
    assert access.allows("U1", "D-anything")
    assert access.allows("U2", "C9")
    assert access.allows("U2", "C5", "T7")  # the workspace is on the list
    assert access.allows("UA", "D-anything")  # admins may always
    assert not access.allows("U2", "C5", "T8")
    refused = await access.check(msg("U2", "D5"))
    assert not refused.allowed and refused.reply.startswith("Sorry")
    again = await access.check(msg("U2", "D5"))
    assert not again.allowed and again.reply == ""  # told once an hour, not every time
    in_group = await access.check(msg("U3", "C5", group=True))
    assert not in_group.allowed and in_group.reply == ""


async def test_silence_in_private_chats_too() -> None:
    access = Access(AccessSettings(allow_users=("U1",), refusal_in_private=False))
    assert (await access.check(msg("U2", "D1"))).reply == ""


def test_chat_advice_is_reworded_for_http_clients() -> None:
    from hub.core.limits.messages import LimitMessages
    from hub.core.models import Failed, Notice
    from hub.core.wording import for_http

    running = LimitMessages().running(2)
    assert running.endswith("or send /stop.")
    failed = for_http(Failed(running, code="rate_limited"))
    assert isinstance(failed, Failed) and failed.reason.endswith("wait for one to finish.")
    assert failed.code == "rate_limited"
    notice = for_http(
        Notice("The model 'x' is not available here. Send /models to see the models you can use.")
    )
    assert isinstance(notice, Notice) and "/models" not in notice.text.replace("/v1/models", "")
