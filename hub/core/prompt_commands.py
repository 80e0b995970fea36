"""The `/prompt` and `/prompts` chat commands: parsing the arguments and wording the replies.

`/prompt add NAME [--global] Title | text…`: the `|` that splits title from text must be on the
first line (outside any `{{…}}`); without one the name is the title and everything after the name
is the text, which may span lines. `/prompt edit` without a `|` keeps the current title.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from hub.core.models import Prompt, PromptScope, User
from hub.core.ports import StoreError
from hub.core.prompt_rules import PromptError, lookup_key, normalize_command
from hub.core.templates import PLACEHOLDER, placeholders

log = logging.getLogger(__name__)


class PromptCatalog(Protocol):
    """What the commands need of `hub.core.prompts.PromptService` (which calls into this
    module, so it is named by its shape here rather than imported)."""

    async def listing(self, user: User) -> str: ...

    async def get(self, user: User, command: str) -> Prompt | None: ...

    async def global_prompt(self, command: str) -> Prompt | None: ...

    async def create(
        self, user: User, command: str, title: str, content: str, scope: PromptScope = "personal"
    ) -> Prompt: ...

    async def update(
        self,
        user: User,
        command: str,
        title: str,
        content: str,
        *,
        scope: PromptScope | None = None,
    ) -> Prompt | None: ...

    async def delete(
        self, user: User, command: str, *, scope: PromptScope | None = None
    ) -> bool: ...


USAGE = "\n".join(
    [
        "Usage:",
        "/prompt show NAME",
        "/prompt add NAME Title | text…",
        "/prompt edit NAME Title | text…",
        "/prompt rm NAME",
        "The text may span several lines; without “Title |” the name is the title.",
        "In the text, {{INPUT}} is what you type after the command and {{lang}} asks for lang=…",
        "Admins add --global to manage the prompts everyone sees.",
    ]
)
EMPTY_LISTING = "No prompt commands yet. Add one with /prompt add NAME Title | text"
_ACTIONS = {
    "show": "show",
    "view": "show",
    "get": "show",
    "add": "add",
    "new": "add",
    "create": "add",
    "edit": "edit",
    "update": "edit",
    "rm": "rm",
    "remove": "rm",
    "delete": "rm",
    "del": "rm",
    "list": "list",
    "ls": "list",
}
_FLAGS = frozenset({"--global", "-g"})
_WORD = re.compile(r"[ \t]*(\S+)")
_FLAG_AFTER_NAME = re.compile(r"[ \t]*(?:--global|-g)(?=\s|\Z)")


@dataclass(frozen=True, slots=True)
class _Request:
    action: str
    name: str
    is_global: bool
    rest: str  # everything after the name: "Title | text…"


async def run_prompt_command(service: PromptCatalog, user: User, args: str) -> str:
    """Run one `/prompt …` command; every outcome is a reply sentence."""
    request = _parse(args)
    if request is None:
        return USAGE
    if request.action == "list":
        return await service.listing(user)
    if not request.name:
        return USAGE
    try:
        if request.action == "show":
            return await _show(service, user, request)
        if request.action == "add":
            return await _add(service, user, request)
        if request.action == "edit":
            return await _edit(service, user, request)
        return await _remove(service, user, request)
    except PromptError as exc:
        return exc.message
    except StoreError as exc:
        log.warning("prompt store failed", extra={"action": request.action, "error": str(exc)})
        return str(exc) or "The prompt store is not answering; try again in a moment."


def format_listing(prompts: list[Prompt]) -> str:
    """The `/prompts` reply."""
    if not prompts:
        return EMPTY_LISTING
    lines = ["Prompt commands:"]
    for p in prompts:
        mark = " (global)" if p.scope == "global" else ""
        lines.append(f"{p.command} — {p.title}{mark}")
    lines.append("")
    lines.append("Use one with /NAME your text; /prompt show NAME shows its template.")
    return "\n".join(lines)


def format_prompt(prompt: Prompt) -> str:
    """The `/prompt show` reply: title line, variables, and the template in a code block."""
    scope = "global" if prompt.scope == "global" else "personal"
    lines = [f"{prompt.command} — {prompt.title} ({scope})"]
    variables = describe_variables(prompt.content)
    if variables:
        lines.append(f"Variables: {variables}")
    longest = max((len(m) for m in re.findall(r"`+", prompt.content)), default=0)
    fence = "`" * max(3, longest + 1)
    lines += [f"{fence}text", prompt.content, fence]
    return "\n".join(lines)


def describe_variables(content: str) -> str:
    """ "lang (required), tone (default: formal)" for the custom variables of `content`."""
    seen: dict[str, str] = {}
    for spot in placeholders(content):
        if not spot.is_custom or spot.name in seen:
            continue
        if spot.required:
            seen[spot.name] = f"{spot.name} (required)"
        elif spot.default:
            seen[spot.name] = f"{spot.name} (default: {spot.default})"
        else:
            seen[spot.name] = f"{spot.name} (optional)"
    return ", ".join(seen.values())


def usage_example(prompt: Prompt) -> str:
    """How to call `prompt`: "/translate lang=… your text"."""
    required = dict.fromkeys(p.name for p in placeholders(prompt.content) if p.required)
    pairs = "".join(f"{name}=… " for name in required if name not in ("INPUT", "CLIPBOARD"))
    return f"{prompt.command} {pairs}your text"


def split_title(rest: str) -> tuple[str | None, str]:
    """("Title", "text") from "Title | text…"; (None, text) when the first line has no `|`."""
    first, newline, after = rest.partition("\n")
    bar = _bar_position(first)
    if bar < 0:
        return None, rest.strip()
    title = first[:bar].strip()
    content = first[bar + 1 :].lstrip(" \t")
    if not content:
        return title, after.rstrip()
    return title, (content + newline + after).rstrip()


def _bar_position(line: str) -> int:
    """The first `|` in `line` that is not inside a `{{…}}` placeholder, or -1."""
    inside = [(m.start(), m.end()) for m in PLACEHOLDER.finditer(line)]
    for i, ch in enumerate(line):
        if ch == "|" and not any(a <= i < b for a, b in inside):
            return i
    return -1


def _parse(args: str) -> _Request | None:
    rest = args
    words: list[str] = []
    is_global = False
    while len(words) < 2:
        match = _WORD.match(rest)
        if match is None:
            break
        rest = rest[match.end() :]
        if match.group(1) in _FLAGS:
            is_global = True
        else:
            words.append(match.group(1))
    flag = _FLAG_AFTER_NAME.match(rest)
    if flag is not None:
        is_global = True
        rest = rest[flag.end() :]
    if not words or words[0].lower() not in _ACTIONS:
        return None
    name = words[1] if len(words) > 1 else ""
    return _Request(_ACTIONS[words[0].lower()], name, is_global, rest)


def _scope(request: _Request) -> PromptScope:
    return "global" if request.is_global else "personal"


async def _show(service: PromptCatalog, user: User, request: _Request) -> str:
    if request.is_global:
        found = await service.global_prompt(request.name)
    else:
        found = await service.get(user, request.name)
    if found is None:
        return f"No prompt {_display(request.name)}. /prompts lists the ones you can use."
    return format_prompt(found)


async def _add(service: PromptCatalog, user: User, request: _Request) -> str:
    key = normalize_command(request.name)
    title, content = split_title(request.rest)
    if not content.strip():
        return f"The text of {key} is missing. Example: /prompt add {key[1:]} Title | text…"
    scope = _scope(request)
    try:
        created = await service.create(user, key, title or "", content, scope=scope)
    except PromptError as exc:
        if exc.kind != "duplicate":
            raise
        flag = " --global" if request.is_global else ""
        return f"{key} already exists; use /prompt edit{flag}"
    if scope == "global":
        return f"Added {key} for everyone. Use it with {usage_example(created)}."
    reply = f"Added {key}. Use it with {usage_example(created)}."
    if await service.global_prompt(key) is not None:
        reply += f" It hides the global {key} for you."
    return reply


async def _edit(service: PromptCatalog, user: User, request: _Request) -> str:
    key = normalize_command(request.name)
    title, content = split_title(request.rest)
    if not content.strip():
        return f"The new text of {key} is missing. Example: /prompt edit {key[1:]} Title | text…"
    scope = _scope(request)
    updated = await service.update(user, key, title or "", content, scope=scope)
    if updated is None:
        return await _not_found(service, user, key, scope, "edit")
    return f"Updated {key}."


async def _remove(service: PromptCatalog, user: User, request: _Request) -> str:
    key = lookup_key(request.name)
    if key is None:
        return f"No prompt {_display(request.name)}."
    scope = _scope(request)
    if not await service.delete(user, key, scope=scope):
        return await _not_found(service, user, key, scope, "rm")
    return f"Removed {key}."


async def _not_found(
    service: PromptCatalog, user: User, key: str, scope: PromptScope, action: str
) -> str:
    if scope == "personal" and await service.global_prompt(key) is not None:
        if user.role == "admin":
            return f"{key} is a global prompt; use /prompt {action} {key[1:]} --global"
        if action == "edit":
            return (
                f"{key} is a global prompt and only admins can change it; "
                f"/prompt add {key[1:]} … makes your own version"
            )
        return f"{key} is a global prompt and only admins can remove it."
    kind = "global prompt" if scope == "global" else "prompt of yours"
    return f"There is no {kind} {key}. /prompts lists the ones you can use."


def _display(name: str) -> str:
    return name if name.startswith("/") else "/" + name
