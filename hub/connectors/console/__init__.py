"""The console connector plugin (entry point `chathub.connectors: console`) and `chathub chat`.

Everything lives in `terminal.py`; loading it is cheap (no SDK, only the core's value types).
"""

from hub.connectors.console.terminal import chat_in_terminal, plugin

__all__ = ["chat_in_terminal", "plugin"]
