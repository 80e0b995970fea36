"""`chathub` command line: serve | chat | check.

Settings are loaded once here; a bad one prints `chathub: <what is wrong>` and exits with 2.
Subcommands import their machinery lazily so `chathub --help` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
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
            "named by HUB_CONFIG (see README.md and docs/configuration.md). Exit codes: "
            "0 ok, 1 a dependency failed, 2 a setting is invalid."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the hub (HTTP API and enabled bots)")
    serve.add_argument("--host", help="interface to bind (HUB_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (HUB_PORT)")
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

    check = commands.add_parser("check", help="check that every dependency answers")
    check.set_defaults(run=_check)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    found = {"host": getattr(args, "host", None), "port": getattr(args, "port", None)}
    return {name: value for name, value in found.items() if value is not None}


def _outcome(result: Any) -> int:
    """Run what an app entry point returned (a coroutine or an exit code)."""
    if inspect.isawaitable(result):
        result = asyncio.run(_awaited(result))
    return int(result) if isinstance(result, int) else 0


async def _awaited(result: Any) -> Any:
    return await result


def _app() -> Any:
    # The app module pulls in the web framework: only `serve` and `check` need it.
    return importlib.import_module("hub.app")


def _serve(settings: HubSettings, args: argparse.Namespace) -> int:
    return _outcome(_app().serve(settings))


def _check(settings: HubSettings, args: argparse.Namespace) -> int:
    return _outcome(_app().check(settings))


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

        # `check` prints its own report; only problems should interleave with it.
        configure_logging("WARNING" if args.command == "check" else settings.log_level)
    code: int = args.run(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
