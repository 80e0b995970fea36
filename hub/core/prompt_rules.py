"""Rules every prompt path shares: command names, sizes, errors, who may touch global prompts."""

from __future__ import annotations

import re
from typing import Literal

from hub.core.builtins import BUILTIN_COMMANDS
from hub.core.models import User

ErrorKind = Literal["invalid", "duplicate", "forbidden", "not_found"]

COMMAND_RULES = "Command names use lowercase letters, digits, - and _ (up to 32)"
MAX_TITLE = 256  # Telegram's command description limit; titles become menu descriptions
MAX_CONTENT = 100_000
_NAME = re.compile(r"[a-z0-9_-]{1,32}")
_INVOCATION = re.compile(r"/(?P<name>[A-Za-z0-9_-]+)(?:@\S*)?(?:\s+(?P<args>.*))?\Z", re.DOTALL)


class PromptError(Exception):
    """A prompt request was refused. `message` is a sentence for the user.

    `kind` lets HTTP edges pick a status: invalid (400), duplicate (400), forbidden (403),
    not_found (404).
    """

    def __init__(self, message: str, *, kind: ErrorKind = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.kind: ErrorKind = kind


def normalize_command(name: str) -> str:
    """`name` (with or without `/`) as a stored command, or raise PromptError saying why not."""
    bare = name.strip().removeprefix("/")
    if not _NAME.fullmatch(bare):
        raise PromptError(COMMAND_RULES)
    if bare in BUILTIN_COMMANDS:
        raise PromptError(f"/{bare} is a built-in command; choose another name")
    return "/" + bare


def lookup_key(name: str) -> str | None:
    """The stored form of an invoked command (`/Summarize@my_bot` → `/summarize`), or None."""
    bare = name.strip().removeprefix("/").split("@", 1)[0].lower()
    if not _NAME.fullmatch(bare) or bare in BUILTIN_COMMANDS:
        return None
    return "/" + bare


def parse_invocation(text: str) -> tuple[str, str] | None:
    """Split `/name args…` into ("name", "args…"); None when `text` is not a command."""
    match = _INVOCATION.match(text.strip())
    if match is None:
        return None
    return match.group("name"), (match.group("args") or "").strip()


def checked_text(key: str, title: str, content: str) -> tuple[str, str]:
    """Title (the name when empty, whitespace collapsed) and content, checked for size."""
    title = " ".join(title.split()) or key[1:]
    if len(title) > MAX_TITLE:
        raise PromptError(f"The title of {key} is too long ({len(title)} > {MAX_TITLE} chars)")
    if not content.strip():
        raise PromptError(f"The text of {key} is empty; write the template after the title")
    if len(content) > MAX_CONTENT:
        raise PromptError(f"The text of {key} is too long ({len(content)} > {MAX_CONTENT} chars)")
    return title, content


def require_admin(user: User) -> None:
    """Raise PromptError unless `user` may manage global prompts."""
    if user.role != "admin":
        raise PromptError(
            "Only admins can manage global prompts; leave out --global to manage your own",
            kind="forbidden",
        )


def taken(key: str) -> PromptError:
    """The error for a command that already exists in the wanted scope."""
    return PromptError(f"{key} already exists; edit it instead", kind="duplicate")
