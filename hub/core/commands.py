"""Chat commands: `/cmd[@bot] args` parsing and the built-ins, the same on every platform.

The built-ins are defined once in `hub.core.builtins` (names, arguments, help); this module runs
them. A command either answers by itself (`Answer`: text for the user, no model call) or becomes
a message for the model (`Expanded`: a prompt command's expansion). Anything else is an ordinary
message (`None`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from hub.core.builtins import ArgsError, CommandSpec, find, help_lines, parse_args
from hub.core.models import ConversationKey, IncomingMessage, Prompt, User, utcnow
from hub.core.ports import (
    DescribesLimits,
    LimitGate,
    ModelListing,
    ModelRouter,
    RouteContext,
    Stores,
)
from hub.core.routing.state import canonical
from hub.core.usage_report import usage_text
from hub.core.wording import SEE_MODELS

_COMMAND = re.compile(r"/([A-Za-z0-9_-]+)(?:@(\S+))?(?:\s+(.*))?", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed `/name@bot args`. `for_us` is False when it names another bot."""

    name: str
    args: str
    for_us: bool = True


@dataclass(frozen=True, slots=True)
class Answer:
    """The command's reply to the user; the model is not called."""

    text: str


@dataclass(frozen=True, slots=True)
class Expanded:
    """A prompt command's expansion: `text` goes to the model, `typed` is what the user sent."""

    text: str
    typed: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """A command addressed to another bot in a group chat: no reply at all."""


Outcome = Answer | Expanded | Ignored


class PromptExpansion(Protocol):
    """A prompt command's expansion: `text` for the model, or `error_message` for the user."""

    @property
    def text(self) -> str | None: ...

    @property
    def error_message(self) -> str: ...


class PromptCommands(Protocol):
    """What the pipeline needs from the prompt-command service (`hub.core.prompts`)."""

    async def expand(
        self, user: User, msg: IncomingMessage, command: str, args: str
    ) -> PromptExpansion | None:
        """Expand `/command args` for `user`; None when no such prompt is visible to them."""
        ...

    async def handle_prompt_command(self, user: User, args: str) -> str:
        """Run `/prompt show|add|edit|rm …` and return the reply text."""
        ...

    async def listing(self, user: User) -> str:
        """The `/prompts` reply."""
        ...

    async def list_for(self, user: User) -> list[Prompt]:
        """The prompt commands `user` can use."""
        ...


def parse_command(text: str, bot_name: str = "") -> Command | None:
    """Parse a leading `/name[@bot] args`; None when `text` is not a command."""
    match = _COMMAND.fullmatch(text.strip())
    if match is None:
        return None
    name, addressee, args = match.group(1), match.group(2), match.group(3) or ""
    for_us = addressee is None or not bot_name or addressee.lower() == bot_name.lower()
    return Command(name.lower(), args.strip(), for_us)


class CommandHandler:
    """Runs built-in commands and prompt commands for one message."""

    def __init__(
        self,
        stores: Stores,
        router: ModelRouter,
        prompts: PromptCommands | None,
        stop: Callable[[ConversationKey], Awaitable[bool]],
        *,
        limits: LimitGate | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._stores = stores
        self._router = router
        self._prompts = prompts
        self._stop = stop
        self._limits = limits
        self._clock = clock

    async def run(self, user: User, msg: IncomingMessage, cmd: Command) -> Outcome:
        """Answer a built-in, expand a prompt command, or explain that `cmd` is unknown."""
        if not cmd.for_us:
            return Ignored()
        spec = find(cmd.name, msg.platform)
        if spec is None:
            return await self._prompt_command(user, msg, cmd)
        return Answer(await self._builtin(spec, user, msg, cmd.args))

    async def _builtin(self, spec: CommandSpec, user: User, msg: IncomingMessage, args: str) -> str:
        name = spec.name
        if name in ("help", "start"):
            return await self._help(user, msg, greeting=name == "start")
        if name == "new":
            await self._stores.conversations.start_new(msg.key, user.id)
            return "Started a new conversation. The previous one is kept."
        if name == "model":
            try:
                model = parse_args(spec, args).get("model", "")
            except ArgsError as exc:
                return str(exc)
            return await self._model(user, msg, model)
        if name == "models":
            return await self._models(user, msg)
        if name == "usage":
            return await self._usage(user)
        if name == "stop":
            stopped = await self._stop(msg.key)
            return "Stopped the reply." if stopped else "No reply is being written."
        if name == "exit":
            return "Goodbye."
        if self._prompts is None:
            return "Prompt commands are not available on this hub."
        if name == "prompts":
            return await self._prompts.listing(user)
        return await self._prompts.handle_prompt_command(user, args)

    async def _prompt_command(self, user: User, msg: IncomingMessage, cmd: Command) -> Outcome:
        unknown = Answer(f"Unknown command /{cmd.name}. Send /help for the list.")
        if self._prompts is None:
            return unknown
        expansion = await self._prompts.expand(user, msg, "/" + cmd.name, cmd.args)
        if expansion is None:
            return unknown
        if expansion.text is None:
            return Answer(expansion.error_message or f"/{cmd.name} could not be used.")
        return Expanded(expansion.text, msg.text)

    async def _help(self, user: User, msg: IncomingMessage, *, greeting: bool) -> str:
        lines = []
        if greeting:
            name = user.name or "there"
            lines += [f"Hi {name}! Send me a message and I'll answer with a local model.", ""]
        lines.append("Commands:")
        lines += help_lines(msg.platform)
        prompts = await self._prompts.list_for(user) if self._prompts is not None else []
        if prompts:
            lines += ["", "Prompt commands:"]
            lines += [f"{p.command} – {p.title or p.command}" for p in prompts]
        return "\n".join(lines)

    async def _model(self, user: User, msg: IncomingMessage, args: str) -> str:
        if not args:
            return self._describe_model(user, msg)
        if args.lower() == "default":
            await self._stores.users.set_model(user.id, None)
            chosen = self._router.resolve(_ctx(_with_model(user, None), msg))
            return f"Back to the default model: {chosen}."
        listed = [entry.name for entry in await self._router.models()]
        # `beta` is `beta:latest`, as in Ollama: take the name as the hub lists it.
        name = next((n for n in listed if n == args), None) or next(
            (n for n in listed if canonical(n) == canonical(args)), None
        )
        if name is None:
            return f"I don't know a model called {args}. {SEE_MODELS.chat}"
        if not self._router.allowed(user, name):
            return (
                f"You can't choose {name}: the hub's allowlist for the {user.role} role does "
                f"not include it. {SEE_MODELS.chat}"
            )
        await self._stores.users.set_model(user.id, name)
        effective = self._router.resolve(_ctx(_with_model(user, name), msg))
        if canonical(effective) != canonical(name):
            return (
                f"Saved {name} as your model, but a routing rule for this chat answers with "
                f"{effective} here; your choice applies where no rule does."
            )
        return f"Your model is now {name}."

    def _describe_model(self, user: User, msg: IncomingMessage) -> str:
        current = self._router.resolve(_ctx(user, msg))
        if user.model and current == user.model:
            how = "your own choice; /model default goes back to the default"
        elif user.model:
            how = f"a rule for this chat overrides your choice ({user.model})"
        else:
            how = "the default here; /model NAME chooses your own"
        return f"Model: {current} ({how})."

    async def _usage(self, user: User) -> str:
        day = self._clock().date().isoformat()  # the usage store's UTC day
        usage = await self._stores.usage.for_user(user.id, day)
        limits = self._limits
        allowance = limits.allowance(user) if isinstance(limits, DescribesLimits) else None
        return usage_text(day, usage, allowance)

    async def _models(self, user: User, msg: IncomingMessage) -> str:
        current = self._router.resolve(_ctx(user, msg))
        listings = [e for e in await self._router.models() if self._router.allowed(user, e.name)]
        if not listings:
            return "No models are available right now."
        lines = ["Models you can choose (/model NAME):"]
        lines += [_listing_line(entry, current) for entry in listings]
        return "\n".join(lines)


def _listing_line(entry: ModelListing, current: str) -> str:
    mark = "• " if entry.name != current else "✓ "
    where = ", ".join(entry.backends) or "no backend up"
    window = f"; {entry.context_window}-token window" if entry.context_window else ""
    if entry.alias_of:
        return f"{mark}{entry.name} (alias of {', '.join(entry.alias_of)}; on {where}{window})"
    return f"{mark}{entry.name} (on {where}{window})"


def _ctx(user: User, msg: IncomingMessage) -> RouteContext:
    return RouteContext(user=user, platform=msg.platform, chat_id=msg.chat_id)


def _with_model(user: User, model: str | None) -> User:
    return replace(user, model=model)
