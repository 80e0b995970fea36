"""`chathub users|prompts|usage`: administration from the command line, on the configured store.

These commands open only the store (no model backends, no limiter), so they work while the hub
runs or is stopped, on SQLite and on MongoDB alike. A change is seen by running hubs within
their user cache time (5 s). Importing this package is cheap: the machinery loads when a
command runs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["add_admin_commands"]


def add_admin_commands(commands: Any) -> None:
    """Register `users`, `prompts` and `usage` on the CLI's subparsers."""
    from hub.admin.parsers import add_prompts, add_usage, add_users

    add_users(commands)
    add_prompts(commands)
    add_usage(commands)
