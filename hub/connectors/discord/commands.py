"""Application commands from the command registry, and invocations back into hub text.

Every guild gets (bulk overwrite, `PUT /applications/{app}/guilds/{guild}/commands`, which
keeps command ids and shows changes at once, where global commands can take up to an hour):

- `/ask text:` — a question, answered in the channel like a mention;
- the registry's built-ins for Discord (`/help`, `/new`, `/model model:` with autocomplete from
  the person's allowlist, `/models`, `/prompts`, `/prompt action: name: text:` with the prompt
  name autocompleted, `/usage`, `/stop`), their option schemas from `CommandSpec.args`;
- one command per global prompt command (`/summarize text:`), described by its title.

Why one command per prompt rather than a single `/prompt name:` runner: the registry's
`/prompt` already manages prompts, a prompt then shows up in Discord's command picker under its
own name with its title (as in Telegram's menu), and the menu watcher keeps the list current
when prompts change. Discord allows 100 commands per guild, so prompts beyond the room left by
the built-ins, and names Discord does not accept (capitals, more than 32 characters), are left
out of the picker; they, and personal prompts, still work typed after a mention or in `/ask`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from hub.core.builtins import Arg, CommandSpec, Source, find, for_platform, invocation

PLATFORM = "discord"
MAX_COMMANDS = 100
MAX_DESCRIPTION = 100
MAX_CHOICES = 25
STRING = 3
_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")
ASK = "ask"
ASK_DESCRIPTION = "Ask the bot something"
PROMPT_INPUT = "text"


def _short(text: str, fallback: str) -> str:
    line = " ".join(text.split()) or fallback
    return line if len(line) <= MAX_DESCRIPTION else line[: MAX_DESCRIPTION - 1] + "…"


def _option(arg: Arg) -> dict[str, Any]:
    option: dict[str, Any] = {
        "type": STRING,
        "name": arg.name,
        "description": _short(arg.summary, arg.name),
        "required": arg.required,
    }
    if arg.choices:
        option["choices"] = [{"name": c, "value": c} for c in arg.choices[:MAX_CHOICES]]
    elif arg.complete is not None:
        option["autocomplete"] = True
    return option


def builtin_specs() -> list[CommandSpec]:
    """The registry's built-ins Discord lists."""
    return [spec for spec in for_platform(PLATFORM) if spec.menu]


def _command(name: str, description: str, options: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": 1,
        "name": name,
        "description": _short(description, f"Run /{name}"),
        "options": options,
        "contexts": [0, 1],  # guild channels and the bot's DMs
    }


def command_payloads(entries: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """The guild's commands: `/ask`, the built-ins, then prompt commands from `entries`
    ((name, description) pairs, built-ins among them are taken from the registry)."""
    ask = Arg("text", "What to ask", required=True, rest=True)
    payloads = [_command(ASK, ASK_DESCRIPTION, [_option(ask)])]
    payloads += [_command(s.name, s.summary, [_option(a) for a in s.args]) for s in builtin_specs()]
    taken = {p["name"] for p in payloads}
    prompt_input = Arg(PROMPT_INPUT, "The text for the prompt", rest=True)
    for raw_name, description in entries:
        name = raw_name.strip().lstrip("/")
        if name in taken or find(name) is not None or not _NAME.match(name):
            continue
        if len(payloads) == MAX_COMMANDS:
            break
        taken.add(name)
        payloads.append(_command(name, description, [_option(prompt_input)]))
    return payloads


def hub_text(name: str, options: Mapping[str, str]) -> str:
    """What a slash command stands for, as the hub would read it typed."""
    if name == ASK:
        return options.get("text", "")
    spec = find(name, PLATFORM)
    if spec is not None:
        return invocation(spec, options)
    given = options.get(PROMPT_INPUT, "").strip()
    return f"/{name} {given}".rstrip()


def completion_source(name: str, option: str) -> Source | None:
    """Where the suggestions for `option` of `/name` come from (the registry's source)."""
    spec = find(name, PLATFORM)
    if spec is None:
        return None
    arg = next((a for a in spec.args if a.name == option), None)
    return arg.complete if arg is not None else None
