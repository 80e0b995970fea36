"""Argument parsers of `chathub users`, `chathub prompts` and `chathub usage`."""

from __future__ import annotations

import argparse
from typing import Any

_REF = "a user: id (or its first 8+ characters), e-mail, or platform:id such as telegram:12345"
_ROLES = ("admin", "user", "pending")


def _run(name: str) -> Any:
    """The entry point `name` of hub.admin.run, imported when the command runs."""

    def run(settings: Any, args: argparse.Namespace) -> int:
        from hub.admin import run as commands

        code: int = getattr(commands, name)(settings, args)
        return code

    return run


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_users(commands: Any) -> None:
    users = commands.add_parser(
        "users",
        help="list, approve, promote, disable and delete users",
        description="Manage hub users: web accounts, bot users and API-key principals.",
    )
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every user as a table")
    listing.add_argument("--role", choices=_ROLES, help="only users with this role")
    _json_flag(listing)
    show = actions.add_parser("show", help="one user in detail, with usage of the last 7 days")
    show.add_argument("user", help=_REF)
    _json_flag(show)
    approve = actions.add_parser("approve", help="let a pending user in (role user)")
    approve.add_argument("user", help=_REF)
    role = actions.add_parser("role", help="set a user's role")
    role.add_argument("user", help=_REF)
    role.add_argument("role", choices=_ROLES)
    for name, text in (("disable", "refuse a user everywhere"), ("enable", "undo disable")):
        action = actions.add_parser(name, help=text)
        action.add_argument("user", help=_REF)
    remove = actions.add_parser(
        "delete", help="delete a user with their conversations, chats and personal prompts"
    )
    remove.add_argument("user", help=_REF)
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    users.set_defaults(run=_run("users"), admin_command=True)


def add_prompts(commands: Any) -> None:
    prompts = commands.add_parser(
        "prompts",
        help="list, add, remove, export and import /command prompts",
        description="Manage /command prompt templates: global ones by default, or one "
        "user's personal prompts with --user. Files use Open WebUI's prompt JSON.",
    )
    actions = prompts.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="global prompts (or what --user sees)")
    listing.add_argument("--user", help=_REF)
    _json_flag(listing)
    add = actions.add_parser("add", help="create a prompt")
    add.add_argument("command", help="its name, e.g. /summarize")
    add.add_argument("--title", default="", help="a short description (default: the name)")
    text = add.add_mutually_exclusive_group(required=True)
    text.add_argument("--content", help="the template text")
    text.add_argument("--file", help="read the template from this file ('-' for stdin)")
    add.add_argument("--user", help=f"make it a personal prompt of {_REF}")
    remove = actions.add_parser("rm", help="remove a prompt")
    remove.add_argument("command")
    remove.add_argument("--user", help=f"remove a personal prompt of {_REF}")
    export = actions.add_parser("export", help="write prompts as Open WebUI JSON")
    export.add_argument("--user", help=f"export the personal prompts of {_REF}")
    export.add_argument("--output", "-o", help="write to this file instead of stdout")
    load = actions.add_parser("import", help="read prompts from Open WebUI JSON")
    load.add_argument("file", help="a JSON file ('-' for stdin): a list of prompts")
    load.add_argument("--user", help=f"import as personal prompts of {_REF}")
    load.add_argument("--replace", action="store_true", help="overwrite prompts that exist")
    prompts.set_defaults(run=_run("prompts"), admin_command=True)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("give 1 or more days")
    return number


def add_usage(commands: Any) -> None:
    usage = commands.add_parser(
        "usage",
        help="requests and tokens per user, model and day",
        description="Requests and tokens counted by the hub, per user, model and UTC day.",
    )
    usage.add_argument("--user", help=f"only {_REF}")
    usage.add_argument("--model", help="only this model")
    usage.add_argument("--days", type=_positive, default=7, help="the last N days (default 7)")
    usage.add_argument(
        "--by",
        action="append",
        choices=("day", "user", "model"),
        help="group by these (repeat it; default: day, user and model)",
    )
    _json_flag(usage)
    usage.set_defaults(run=_run("usage"), admin_command=True)
