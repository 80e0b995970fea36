"""create_app: configured platforms without a connector are reported, not silently ignored."""

from __future__ import annotations

import logging
import subprocess
import sys

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


def test_settle_gc_freezes_start_up_objects_and_raises_the_first_threshold() -> None:
    # In a child process: freezing the test process would keep its garbage for good.
    code = (
        "import gc; from hub.app import settle_gc; settle_gc(); "
        "print(gc.get_threshold()[0], gc.get_freeze_count() > 1000)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["20000", "True"]
