"""Limit policies (YAML `limits:` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class LimitsConfig(BaseModel):
    """Rate-limit policies. Policy strings look like `20/minute` or `200/day`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_user: str | None = None
    per_chat: str | None = None
    per_platform: str | None = None
    global_: str | None = None
    per_model: dict[str, str] = {}
    failure_mode: Literal["fail_open", "fail_closed"] = "fail_open"
