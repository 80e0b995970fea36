"""Prompt-command expansion: `{{VARIABLES}}` in a stored template, filled in one pass.

Rules (Open WebUI names, case-sensitive):
- `{{INPUT}}` / `{{CLIPBOARD}}` take the input: the text after the command, or the replied-to
  message when that text is empty; with both, the typed text comes first, then a blank line, then
  the replied-to text verbatim. A template with neither gets the input appended after a blank line.
- System variables: USER_NAME, USER_LANGUAGE, CURRENT_DATE, CURRENT_TIME, CURRENT_DATETIME,
  CURRENT_WEEKDAY, CURRENT_TIMEZONE, CHAT_NAME, PLATFORM.
- Any other `{{name}}` is a custom variable filled from a `name=value` (or `name="two words"`)
  token in the arguments; only names the template declares are taken out of the input, so a
  stray `a=b` in the user's text stays where it is. `{{name}}` must be passed;
  `{{name | default:"x"}}` falls back to x; Open WebUI's typed form `{{name | type:prop="v"}}`
  is optional unless it carries `:required` (its `default="v"` property is honoured).
- Single pass: one regex substitution over the template, so text the user supplies (input,
  variable values, chat names) is never itself expanded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

INPUT_NAMES = frozenset({"INPUT", "CLIPBOARD"})
SYSTEM_NAMES = frozenset(
    {
        "USER_NAME",
        "USER_LANGUAGE",
        "CURRENT_DATE",
        "CURRENT_TIME",
        "CURRENT_DATETIME",
        "CURRENT_WEEKDAY",
        "CURRENT_TIMEZONE",
        "CHAT_NAME",
        "PLATFORM",
    }
)

# Weekday names are fixed English (Open WebUI's default) so the process locale cannot change them.
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

PLACEHOLDER = re.compile(
    r"""\{\{\s*(?P<name>[A-Za-z_][A-Za-z0-9_-]*)\s*"""
    r"""(?:\|(?P<spec>(?:"[^"]*"|'[^']*'|[^{}"'])*))?\}\}"""
)
_ASSIGNMENT = re.compile(
    r"""(?<!\S)(?P<name>[A-Za-z_][A-Za-z0-9_-]*)="""
    r"""(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>\S*))(?=\s|$)[ \t]*"""
)
_SAMPLE_LIMIT = 40


@dataclass(frozen=True, slots=True)
class TemplateContext:
    """What system variables are filled from. `now` is aware and already in the wanted zone."""

    user_name: str
    user_language: str
    now: datetime
    timezone: str
    chat_name: str = ""
    platform: str = ""


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One `{{…}}` occurrence: its name, default (None = none given) and whether it is required."""

    name: str
    default: str | None
    required: bool
    example: str | None = None  # a sample value for help texts (first option, placeholder)

    @property
    def is_custom(self) -> bool:
        return self.name not in INPUT_NAMES and self.name not in SYSTEM_NAMES


@dataclass(frozen=True, slots=True)
class Expansion:
    """A prompt command's result: `text` to send as the user's message, or the `missing`
    variable names with `error_message`, a reply telling the user what to pass."""

    command: str
    text: str | None = None
    missing: tuple[str, ...] = ()
    error_message: str = ""

    @property
    def ok(self) -> bool:
        return self.text is not None


def system_values(ctx: TemplateContext) -> dict[str, str]:
    """The system variables for `ctx`."""
    now = ctx.now
    return {
        "USER_NAME": ctx.user_name,
        "USER_LANGUAGE": ctx.user_language,
        "CURRENT_DATE": now.strftime("%Y-%m-%d"),
        "CURRENT_TIME": now.strftime("%H:%M:%S"),
        "CURRENT_DATETIME": now.strftime("%Y-%m-%d %H:%M:%S"),
        "CURRENT_WEEKDAY": _WEEKDAYS[now.weekday()],
        "CURRENT_TIMEZONE": ctx.timezone,
        "CHAT_NAME": ctx.chat_name,
        "PLATFORM": ctx.platform,
    }


def placeholder_from(match: re.Match[str]) -> Placeholder:
    """Read one PLACEHOLDER match, tolerating Open WebUI's typed form syntax."""
    name = match.group("name")
    spec = match.group("spec")
    if spec is None:
        return Placeholder(name, None, required=True)
    default: str | None = None
    required = False
    example: str | None = None
    parts = [p.strip() for p in _split_spec(spec)]
    i = 0
    while i < len(parts):
        part = parts[i]
        if part == "required":
            required = True
        elif part == "default" and i + 1 < len(parts):
            default = _unquote(parts[i + 1])
            i += 1
        elif "=" in part:
            key, value = (s.strip() for s in part.split("=", 1))
            if key == "default":
                default = _unquote(value)
            elif key == "placeholder":
                example = _unquote(value)
            elif key == "options" and example is None:
                example = _first_option(value)
        i += 1
    return Placeholder(name, default, required and default is None, example)


def placeholders(content: str) -> list[Placeholder]:
    """Every placeholder in `content`, in order (a name may repeat)."""
    return [placeholder_from(m) for m in PLACEHOLDER.finditer(content)]


def custom_names(content: str) -> list[str]:
    """The custom variable names `content` declares, first occurrence order, no repeats."""
    return list(dict.fromkeys(p.name for p in placeholders(content) if p.is_custom))


def parse_assignments(args: str, names: frozenset[str] | set[str]) -> tuple[dict[str, str], str]:
    """Take `name=value` tokens for the declared `names` out of `args`.

    Returns the values and the remaining text (stripped). Quoted values may hold spaces.
    """
    values: dict[str, str] = {}

    def take(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in names:
            return match.group(0)
        value = match.group("dq")
        if value is None:
            value = match.group("sq")
        if value is None:
            value = match.group("bare") or ""
        values[name] = value
        return ""

    rest = _ASSIGNMENT.sub(take, args)
    return values, rest.strip()


def compose_input(args: str, reply_to_text: str | None) -> str:
    """The input: typed text, else the replied-to text; both → typed, blank line, replied-to."""
    typed = args.strip()
    quoted = (reply_to_text or "").strip()
    if typed and quoted:
        return f"{typed}\n\n{quoted}"
    return typed or quoted


def expand_template(
    command: str,
    content: str,
    args: str,
    ctx: TemplateContext,
    *,
    reply_to_text: str | None = None,
) -> Expansion:
    """Expand `content` for an invocation `command args` (see the module docstring)."""
    declared = [placeholder_from(m) for m in PLACEHOLDER.finditer(content)]
    customs = {p.name for p in declared if p.is_custom}
    values, typed = parse_assignments(args, customs)
    text_input = compose_input(typed, reply_to_text)
    missing = _missing(declared, values)
    if missing:
        return Expansion(
            command,
            missing=missing,
            error_message=missing_message(command, missing, declared, typed),
        )
    system = system_values(ctx)

    def fill(match: re.Match[str]) -> str:
        spot = placeholder_from(match)
        if spot.is_custom and spot.name in values:
            return values[spot.name]  # passed explicitly, even if empty
        if spot.name in INPUT_NAMES:
            found = text_input
        else:
            found = system.get(spot.name, "")
        return found or (spot.default or "")

    text = PLACEHOLDER.sub(fill, content)
    if text_input and not any(p.name in INPUT_NAMES for p in declared):
        text = f"{text.rstrip()}\n\n{text_input}" if text.strip() else text_input
    return Expansion(command, text=text)


def missing_message(
    command: str, missing: tuple[str, ...], declared: list[Placeholder], typed: str
) -> str:
    """The reply for missing variables, e.g. "/translate needs: lang. Pass it as lang=value,
    e.g. /translate lang=French some text" (sample values come from options or placeholders)."""
    examples = {p.name: p.example for p in declared if p.example}
    sample_text = typed if 0 < len(typed) <= _SAMPLE_LIMIT and "\n" not in typed else "some text"
    pairs = " ".join(f"{n}={_quote_if_spaced(examples.get(n) or 'value')}" for n in missing)
    how = f"Pass it as {missing[0]}=value" if len(missing) == 1 else "Pass them as name=value"
    return f"{command} needs: {', '.join(missing)}. {how}, e.g. {command} {pairs} {sample_text}"


def _missing(declared: list[Placeholder], values: Mapping[str, str]) -> tuple[str, ...]:
    names = (p.name for p in declared if p.is_custom and p.required and p.name not in values)
    return tuple(dict.fromkeys(names))


def _split_spec(spec: str) -> list[str]:
    """Split a placeholder spec on `:` outside quotes and brackets."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    depth = 0
    for ch in spec:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth = max(0, depth - 1)
        elif ch == ":" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _first_option(value: str) -> str | None:
    try:
        options = json.loads(value)
    except ValueError:
        return None
    if isinstance(options, list) and options and isinstance(options[0], str | int | float):
        return str(options[0])
    return None


def _quote_if_spaced(value: str) -> str:
    return f'"{value}"' if any(ch.isspace() for ch in value) else value
