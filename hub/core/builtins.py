"""The hub's built-in chat commands: the canonical names every part agrees on.

Prompt commands may not shadow these; the pipeline dispatches them; connectors list them in
native command menus.
"""

from __future__ import annotations

from types import MappingProxyType

BUILTIN_COMMANDS: frozenset[str] = frozenset(
    {"help", "new", "model", "models", "prompts", "prompt", "stop", "start"}
)

# Menu order and one-line descriptions (Telegram allows 256 characters; these stay short).
# /start is left out: Telegram sends it on its own when a chat opens.
BUILTIN_MENU: MappingProxyType[str, str] = MappingProxyType(
    {
        "help": "Show what this bot can do",
        "new": "Start a new conversation",
        "model": "Show or choose your model",
        "models": "List the models you can use",
        "prompts": "List prompt commands",
        "prompt": "Show, add, edit or remove a prompt command",
        "stop": "Stop the reply being written",
    }
)
