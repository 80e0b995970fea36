"""Helpers shared by every store backend, so both behave the same on the edges of the data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hub.core.models import PlatformUser, Prompt, User

# StaleWrite's text: the reply lost its conversation to a newer one (docs/scaling.md).
STALE_WRITE = (
    "This conversation went on without this reply (its turn was taken over while the hub "
    "could not reach Redis); send your message again."
)


def new_id() -> str:
    """A fresh identifier for users and conversations (a UUID4 string, as Open WebUI uses)."""
    return str(uuid.uuid4())


def to_utc(value: datetime) -> datetime:
    """`value` in UTC, truncated to milliseconds (BSON's precision) so every store round-trips
    the same instant. Naive datetimes are taken to be UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def now_utc() -> datetime:
    return to_utc(datetime.now(UTC))


def normalise_email(email: str | None) -> str | None:
    """E-mail addresses are matched case-insensitively (as Open WebUI does): stored lower-case."""
    if email is None:
        return None
    email = email.strip().lower()
    return email or None


def user_for_identity(who: PlatformUser) -> User:
    """The hub user created on first sight of a platform identity."""
    name = who.display_name or f"{who.platform} user {who.platform_user_id}"
    return User(id=new_id(), name=name, language=who.language, created_at=now_utc())


def owner_key(owner_id: str, scope: str) -> str:
    """The owner part of a prompt's unique key: global commands are unique across all owners."""
    return "" if scope == "global" else owner_id


def prompt_taken(prompt: Prompt) -> str:
    """The DuplicateError message for a prompt command that is taken in its scope."""
    where = "as a global prompt" if prompt.scope == "global" else "among your prompts"
    return f"The command {prompt.command} already exists {where}; pick another name."
