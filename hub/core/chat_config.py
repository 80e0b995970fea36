"""Pipeline configuration (YAML `chat:` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatConfig(BaseModel):
    """How the pipeline talks to models and keeps history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system_prompt: str = ""
    default_context_tokens: int = Field(default=4096, ge=256)
    reply_reserve_tokens: int = Field(default=1024, ge=0)
    chars_per_token: float = Field(default=3.0, gt=0)  # conservative start; calibrated per model
    history_limit: int = Field(default=200, ge=1)  # turns loaded before trimming
    connect_timeout: float = Field(default=5.0, gt=0)
    first_token_timeout: float = Field(default=120.0, gt=0)
    chunk_timeout: float = Field(default=60.0, gt=0)
    keep_alive: str | None = None
    busy_policy: Literal["queue", "cancel"] = "queue"  # a new message while one is streaming
    shutdown_grace: float = Field(default=10.0, ge=0)  # replies may finish this long at shutdown
    # Turns kept in the data dir (spool.db) while the store is down, written back once it is up;
    # when full, messages are refused (0: none kept, every message refused during an outage).
    spool_turns: int = Field(default=10_000, ge=0)
    bot_name: str = ""  # accepted in /cmd@bot_name in group chats
    max_image_bytes: int = Field(default=10 * 1024 * 1024, ge=1)  # per image sent from a chat
    max_images: int = Field(default=4, ge=0)  # per message; the rest are left out, with a notice
