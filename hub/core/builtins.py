"""The hub's built-in chat commands, each defined once: the registry every surface reads.

A `CommandSpec` holds a command's name, its one-line summary (native menus: Telegram's
setMyCommands, Slack's `/ask help`, Discord's application commands), its `/help` line and its
arguments with types, choices and autocomplete sources (Discord's option schemas). `/help`,
argument parsing (`parse_args`), Telegram's menu and the other platforms' command lists all come
from `BUILTINS`; prompt commands may not take these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

ArgKind = Literal["text", "model", "prompt", "choice"]
# Where an argument's suggestions come from (`hub.core.completion.Completions`).
Source = Literal["models", "prompts"]


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument. `rest` takes everything after the earlier arguments."""

    name: str
    summary: str
    kind: ArgKind = "text"
    required: bool = False
    choices: tuple[str, ...] = ()
    complete: Source | None = None
    rest: bool = False

    def placeholder(self) -> str:
        shown = "|".join(self.choices) if self.choices else self.name.upper()
        return shown if self.required else f"[{shown}]"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A built-in command. `surfaces` empty: every chat platform; else only those named."""

    name: str
    summary: str  # native menus; at most 100 characters (Discord's limit)
    help: str  # the `/help` line after the usage
    args: tuple[Arg, ...] = ()
    surfaces: frozenset[str] = frozenset()
    menu: bool = True  # listed in native command menus
    aliases: tuple[str, ...] = ()
    listed: bool = True  # shown by /help

    def on(self, platform: str) -> bool:
        return not self.surfaces or platform in self.surfaces

    def usage(self) -> str:
        """ "/model [MODEL]", "/exit, /quit"."""
        names = ", ".join(f"/{n}" for n in (self.name, *self.aliases))
        return " ".join([names, *(a.placeholder() for a in self.args)])


class ArgsError(ValueError):
    """Arguments that do not fit the command; the message is a sentence for the user."""


_MODEL = Arg("model", "a model from /models, or default", "model", complete="models", rest=True)
_PROMPT_ACTIONS = ("show", "add", "edit", "rm", "list")

BUILTINS: tuple[CommandSpec, ...] = (
    CommandSpec("help", "Show what this bot can do", "this list"),
    CommandSpec("start", "Say hello", "a greeting and this list", menu=False, listed=False),
    CommandSpec(
        "new", "Start a new conversation", "start a new conversation (the old one is kept)"
    ),
    CommandSpec(
        "model", "Show or choose your model", "show your model, or choose one", args=(_MODEL,)
    ),
    CommandSpec("models", "List the models you can use", "list the models you can choose"),
    CommandSpec("prompts", "List prompt commands", "list prompt commands"),
    CommandSpec(
        "prompt",
        "Show, add, edit or remove a prompt command",
        "manage prompt commands (/prompt alone explains how)",
        args=(
            Arg("action", "what to do", "choice", required=True, choices=_PROMPT_ACTIONS),
            Arg("name", "the prompt command", "prompt", complete="prompts"),
            Arg("text", "Title | text of the prompt", rest=True),
        ),
    ),
    CommandSpec("usage", "Your usage today and your limits", "your requests and tokens today"),
    CommandSpec("stop", "Stop the reply being written", "stop the reply being written"),
    CommandSpec(
        "exit",
        "Leave the chat",
        "leave (Ctrl-D too; Ctrl-C stops a reply)",
        surfaces=frozenset({"console"}),
        menu=False,
        aliases=("quit",),
    ),
)

_BY_NAME: Mapping[str, CommandSpec] = MappingProxyType(
    {name: spec for spec in BUILTINS for name in (spec.name, *spec.aliases)}
)

# Every reserved name: prompt commands may not shadow a built-in on any surface.
BUILTIN_COMMANDS: frozenset[str] = frozenset(_BY_NAME)

# The common native menu, in order: (name, summary).
BUILTIN_MENU: Mapping[str, str] = MappingProxyType(
    {spec.name: spec.summary for spec in BUILTINS if spec.menu and not spec.surfaces}
)


def find(name: str, platform: str = "") -> CommandSpec | None:
    """The built-in called `name` (or an alias) on `platform` ("" = any surface)."""
    spec = _BY_NAME.get(name.lower())
    if spec is None or (platform and not spec.on(platform)):
        return None
    return spec


def for_platform(platform: str) -> list[CommandSpec]:
    """The built-ins of `platform`, in `/help` order."""
    return [spec for spec in BUILTINS if spec.on(platform)]


def menu_entries(platform: str) -> list[tuple[str, str]]:
    """(name, summary) of the built-ins a native menu on `platform` lists."""
    return [(s.name, s.summary) for s in for_platform(platform) if s.menu]


def help_lines(platform: str) -> list[str]:
    """`/help`'s lines for the built-ins of `platform`."""
    return [f"{spec.usage()} – {spec.help}" for spec in for_platform(platform) if spec.listed]


def parse_args(spec: CommandSpec, text: str) -> dict[str, str]:
    """The arguments of `/name text` by name; raises ArgsError with the usage when they don't fit.

    Arguments are words in order; a `rest` argument takes what is left (spaces and new lines
    kept). Choices are matched case-insensitively and returned as declared.
    """
    values: dict[str, str] = {}
    remaining = text.strip()
    for arg in spec.args:
        if not remaining:
            break
        if arg.rest:
            value, remaining = remaining, ""
        else:
            value, _, remaining = remaining.partition(" ")
            remaining = remaining.strip()
        if arg.choices:
            matched = next((c for c in arg.choices if c.lower() == value.lower()), None)
            if matched is None:
                raise ArgsError(f"Usage: {spec.usage()}")
            value = matched
        values[arg.name] = value
    missing = [a.name for a in spec.args if a.required and a.name not in values]
    if missing or remaining:
        raise ArgsError(f"Usage: {spec.usage()}")
    return values


def invocation(spec: CommandSpec, values: Mapping[str, str]) -> str:
    """The text a structured invocation stands for (a Discord application command's options),
    so it reaches the hub exactly as if it had been typed."""
    words = [f"/{spec.name}", *(values[a.name] for a in spec.args if values.get(a.name))]
    return " ".join(words)
