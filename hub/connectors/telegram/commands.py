"""The command menu (setMyCommands): built-in commands and global prompt commands.

The built-ins come from the command registry (`hub.core.builtins`). Telegram accepts at most 100
commands, each 1-32 characters of a-z, 0-9 and _, with a description of 1-256 characters.
Prompt commands that cannot be a Telegram command (a dash, capitals) still work when typed;
they are only left out of the menu.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hub.core.builtins import menu_entries

MAX_COMMANDS = 100
MAX_DESCRIPTION = 256
_NAME = re.compile(r"^[a-z0-9_]{1,32}$")


def builtin_commands() -> list[tuple[str, str]]:
    """The built-ins Telegram's menu lists, in the registry's order."""
    return menu_entries("telegram")


def telegram_commands(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(command, description) pairs Telegram accepts: valid, unique, first 100 kept."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw_name, raw_description in pairs:
        name = raw_name.strip().lstrip("/")
        if not _NAME.match(name) or name in seen:
            continue
        description = " ".join(raw_description.split()) or f"Run /{name}"
        if len(description) > MAX_DESCRIPTION:
            description = description[: MAX_DESCRIPTION - 1] + "…"
        seen.add(name)
        out.append((name, description))
        if len(out) == MAX_COMMANDS:
            break
    return out
