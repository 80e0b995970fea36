"""`chathub` command line: serve | chat | check | users | prompts | usage.

Settings are loaded once here; a bad one prints `chathub: <what is wrong>` and exits with 2.
Subcommands import their machinery lazily so `chathub --help` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.settings import HubSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chathub",
        description="Self-hosted chat-bot hub for your Ollama models.",
        epilog=(
            "Settings come from HUB_* environment variables, a .env file and the YAML file "
            "named by HUB_CONFIG (see README.md and docs/configuration.md); an unknown HUB_* "
            "name is refused. Exit codes: 0 ok; 1 a dependency is down (store, Redis, a "
            "platform that does not answer; for check: anything not ok); 2 a setting is "
            "invalid or credentials were refused (e.g. a Telegram token Telegram does not "
            "accept)."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the hub (HTTP API and enabled bots)")
    serve.add_argument("--host", help="interface to bind (HUB_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (HUB_PORT)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N processes on this machine sharing the port (N > 1 needs HUB_REDIS_URL; "
        "see docs/scaling.md)",
    )
    # A worker of `serve --workers N` gets the supervisor's socket and pipe (hub/workers.py).
    serve.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--parent-fd", type=int, help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    chat = commands.add_parser(
        "chat",
        help="chat with your models in this terminal",
        description="Chat in this terminal through the hub's pipeline. /help lists the "
        "commands; /stop or Ctrl-C stops a reply; /exit, /quit or Ctrl-D leaves.",
    )
    chat.add_argument("--once", metavar="TEXT", help="send TEXT, print the reply and exit")
    chat.add_argument("--model", help="ask for this model or alias instead of the default")
    chat.set_defaults(run=_chat)

    check = commands.add_parser(
        "check",
        help="check every dependency: store, limiter, backends and their models, the default "
        "model, each enabled connector's credentials",
    )
    check.set_defaults(run=_check)

    from hub.admin import add_admin_commands  # users, prompts, usage (hub/admin/)

    add_admin_commands(commands)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    found = {"host": getattr(args, "host", None), "port": getattr(args, "port", None)}
    return {name: value for name, value in found.items() if value is not None}


def _serve(settings: HubSettings, args: argparse.Namespace) -> int:
    from hub.app import serve  # the web framework: only `serve` pays for importing it
    from hub.workers import WorkerSockets, serve_workers

    if args.listen_fd is not None:
        return serve(settings, WorkerSockets(args.listen_fd, args.parent_fd))
    if args.workers != 1:
        return serve_workers(settings, args.workers)
    return serve(settings)


def _check(settings: HubSettings, args: argparse.Namespace) -> int:
    from hub.check import check

    return check(settings)


def _chat(settings: HubSettings, args: argparse.Namespace) -> int:
    from hub.connectors.console.terminal import chat_in_terminal

    try:
        return asyncio.run(chat_in_terminal(settings, once=args.once, model=args.model))
    except KeyboardInterrupt:  # Ctrl-C before the console took over the signal
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `chathub` console script."""
    from hub.settings import SettingsError, load_settings

    args = _parser().parse_args(argv)
    try:
        settings = load_settings(**_overrides(args))
    except SettingsError as exc:
        print(f"chathub: {exc}", file=sys.stderr)
        return 2
    if args.command != "chat":  # the terminal chat keeps the screen for the conversation
        from hub.logging_setup import configure_logging

        # `check` and the admin commands print reports; only problems should interleave.
        report = args.command == "check" or getattr(args, "admin_command", False)
        configure_logging("WARNING" if report else settings.log_level)
    code: int = args.run(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
