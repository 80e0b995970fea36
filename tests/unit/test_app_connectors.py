"""create_app: configured platforms without a connector are reported, not silently ignored."""

from __future__ import annotations

import logging

import pytest

from hub.app import create_app
from hub.settings import DiscordSettings, HubSettings, SlackSettings


def test_platform_without_connector_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    settings = HubSettings(
        slack=SlackSettings(bot_token="xoxb-1"), discord=DiscordSettings(token="d-token")
    )
    with caplog.at_level(logging.WARNING, logger="hub.app"):
        create_app(settings)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("HUB_SLACK__* is set but no slack connector") for m in messages)
    assert any(m.startswith("HUB_DISCORD__* is set but no discord connector") for m in messages)
    assert not any("xoxb-1" in m or "d-token" in m for m in messages)


def test_no_warning_without_platform_settings(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hub.app"):
        create_app(HubSettings())
    assert caplog.records == []
