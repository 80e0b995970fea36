"""Structured logging: one line per event, `key=value` pairs from `extra=`.

Values are rendered with repr-like quoting so a log line can be parsed back. Secrets never reach
here: settings keep them as SecretStr, and code logs names and hosts, never tokens or URLs with
credentials.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}


class KeyValueFormatter(logging.Formatter):
    """`2026-11-21T21:00:00.123Z INFO hub.app message key=value …`"""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        parts = [f"{when}Z", record.levelname, record.name, record.getMessage()]
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            text = str(value)
            if not text or any(c.isspace() for c in text) or '"' in text:
                text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
            parts.append(f"{key}={text}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO") -> None:
    """Send every log record to stderr as one key=value line (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter, kept at WARNING whatever the level: httpx request lines carry bot
    # tokens in Telegram URLs, and at DEBUG aiosqlite logs every statement with its parameters
    # and pymongo every command with its documents (password hashes, chat text). uvicorn's
    # access lines are replaced by the hub's own request log (hub/api/request_log.py).
    for noisy in (
        "httpx",
        "httpcore",
        "telegram",
        "slack_sdk",
        "slack_bolt",
        "discord",
        "aiosqlite",
        "pymongo",
        "uvicorn.access",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
