"""How the replicas coordinate (YAML `coordination:`, env `HUB_COORDINATION__*`); used only
when `HUB_REDIS_URL` is set."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CoordinationConfig(BaseModel):
    """Lease times of what replicas share through Redis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Seconds a replica that died keeps its backend slots, queue places and conversations
    # before the others take them over; renewed every third of it while the replica lives.
    lease_ttl: float = Field(default=15.0, ge=1.0, le=600.0)
    # Seconds before another replica takes over a duty only one may do (polling Telegram)
    # after its holder died.
    leader_ttl: float = Field(default=5.0, ge=1.0, le=600.0)
    # Prefix of every key and channel, so several hubs can share one Redis.
    namespace: str = Field(default="chathub", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
