"""Entry points of the admin commands (called by the CLI with the loaded settings)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hub.admin.session import run_with_stores

if TYPE_CHECKING:
    from hub.settings import HubSettings


def users(settings: HubSettings, args: argparse.Namespace) -> int:
    from hub.admin.users import ACTIONS

    return run_with_stores(settings, lambda stores: ACTIONS[args.action](stores, args))


def prompts(settings: HubSettings, args: argparse.Namespace) -> int:
    from hub.admin.prompts import ACTIONS

    return run_with_stores(settings, lambda stores: ACTIONS[args.action](stores, args))


def usage(settings: HubSettings, args: argparse.Namespace) -> int:
    from hub.admin.usage import report

    return run_with_stores(settings, lambda stores: report(stores, args))
