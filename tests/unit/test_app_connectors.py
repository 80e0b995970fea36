"""create_app: the connector plugins the settings were loaded with, and the serving process."""

from __future__ import annotations

import subprocess
import sys

from hub.app import create_app
from hub.connectors.telegram import plugin as telegram
from hub.connectors.telegram.settings import TelegramSettings
from hub.settings import HubSettings, settings_class


def paths(settings: HubSettings) -> set[str]:
    return {route.path for route in create_app(settings).routes}


def test_a_plugin_mounts_its_routes_from_its_own_section() -> None:
    cls = settings_class([telegram])
    off = cls()
    webhook = cls(telegram=TelegramSettings(token="1:x", mode="webhook", webhook_secret="s"))
    assert "/webhooks/telegram" not in paths(off)
    assert "/webhooks/telegram" in paths(webhook)
    # Settings built without plugins have no connector sections and mount none.
    assert HubSettings.plugins == () and HubSettings().section("telegram") is None


def test_settle_gc_freezes_start_up_objects_and_raises_the_first_threshold() -> None:
    # In a child process: freezing the test process would keep its garbage for good.
    code = (
        "import gc; from hub.app import settle_gc; settle_gc(); "
        "print(gc.get_threshold()[0], gc.get_freeze_count() > 1000)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["20000", "True"]
