"""Limit policies (YAML `limits:` section).

```yaml
limits:
  per_user: 20/minute             # or {rate: 20/minute, burst: 5}
  per_chat: 60/minute
  per_platform: 600/minute
  per_workspace: 300/minute       # a Slack workspace, a Discord guild
  global: 2000/minute
  per_model: {llama3.1:70b: 10/minute}
  tokens_per_day: 50000           # per user, UTC days; the server's counts, else estimates
  concurrent_per_user: 1
  concurrent_wait: 120            # s a service key's request waits for a free reply slot
  on_redis_error: fail_open       # or fail_closed: refuse (503) while Redis is unreachable
  roles:
    admin: unlimited              # the default
    pending: {per_user: 2/minute, tokens_per_day: 2000}
```

A rate `N/period` lets a fresh subject send `burst` requests at once (default N) and then one
more every `period / N` (GCRA). In role overrides a scope set to `unlimited` is lifted.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hub.core.ports import Rate

_UNITS: dict[str, tuple[float, str]] = {
    "s": (1.0, "second"),
    "sec": (1.0, "second"),
    "second": (1.0, "second"),
    "m": (60.0, "minute"),
    "min": (60.0, "minute"),
    "minute": (60.0, "minute"),
    "h": (3600.0, "hour"),
    "hr": (3600.0, "hour"),
    "hour": (3600.0, "hour"),
    "d": (86400.0, "day"),
    "day": (86400.0, "day"),
}
_SHORT = {"second": "s", "minute": "min", "hour": "h", "day": "day"}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+?)s?\s*$")
UNLIMITED: Final = "unlimited"


def _not_a_rate(value: object) -> PydanticCustomError:
    return PydanticCustomError(
        "rate", f"{value!r} is not a rate; use N/second, N/minute, N/hour or N/day"
    )


def parse_rate(text: str) -> tuple[int, float, str]:
    """`"20/minute"` → (20, 60.0, "minute"); `"10/30s"` → (10, 30.0, "30 s").

    The third item describes the period for messages ("20 per minute", "10 per 30 s").
    Raises ValueError for anything else.
    """
    match = _RATE_RE.match(text.lower())
    if match is None or match.group(3) not in _UNITS:
        raise ValueError(text)
    count = int(match.group(1))
    seconds, unit = _UNITS[match.group(3)]
    multiple = float(match.group(2)) if match.group(2) else 1.0
    if count <= 0 or multiple <= 0:
        raise ValueError(text)
    if multiple == 1.0:
        return count, seconds, unit
    return count, seconds * multiple, f"{multiple:g} {_SHORT[unit]}"


class Policy(BaseModel):
    """One rate policy: `rate` like `20/minute` and how many requests may come at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: str
    burst: PositiveInt | None = None  # requests accepted at once; default: the count N
    count: int = Field(default=0, exclude=True)
    period: float = Field(default=0.0, exclude=True)
    unit: str = Field(default="", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str | int):
            data = {"rate": str(data)}
        if not isinstance(data, dict):
            raise _not_a_rate(data)
        unknown = sorted(set(data) - {"rate", "burst"})
        if unknown:
            raise PydanticCustomError("extra_forbidden", f"unknown setting {unknown[0]!r}")
        rate = data.get("rate")
        if not isinstance(rate, str):
            raise _not_a_rate(rate)
        try:
            count, period, unit = parse_rate(rate)
        except ValueError:
            raise _not_a_rate(rate) from None
        return {**data, "rate": rate.strip(), "count": count, "period": period, "unit": unit}

    def to_rate(self) -> Rate:
        """The limiter's view: GCRA `Rate` with `burst` counted beyond the first request."""
        capacity = self.burst if self.burst is not None else self.count
        return Rate(limit=self.count, period=self.period, burst=capacity - 1, text=self.rate)

    def describe(self) -> str:
        """For messages: "20 per minute"."""
        return f"{self.count:,} per {self.unit}"


def _unlimited_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip().lower() == UNLIMITED else value


class _Scopes(BaseModel):
    """The scopes a role override may change; shared with the top level."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    per_user: Policy | None = None
    per_chat: Policy | None = None
    per_platform: Policy | None = None
    per_workspace: Policy | None = None
    global_: Policy | None = Field(default=None, alias="global")
    per_model: dict[str, Policy] = {}
    tokens_per_day: PositiveInt | None = None
    concurrent_per_user: PositiveInt | None = None

    @field_validator(
        "per_user",
        "per_chat",
        "per_platform",
        "per_workspace",
        "global_",
        "tokens_per_day",
        "concurrent_per_user",
        mode="before",
    )
    @classmethod
    def _lift(cls, value: Any) -> Any:
        return _unlimited_to_none(value)

    @field_validator("per_model", mode="before")
    @classmethod
    def _lift_models(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if _unlimited_to_none(v) is not None}
        return value


class RoleLimits(_Scopes):
    """A role's overrides: only the keys given replace the top-level policy."""


class EffectivePolicy(BaseModel):
    """What applies to one user after role overrides; `unlimited` skips every check."""

    model_config = ConfigDict(frozen=True)

    unlimited: bool = False
    per_user: Policy | None = None
    per_chat: Policy | None = None
    per_platform: Policy | None = None
    per_workspace: Policy | None = None
    global_: Policy | None = None
    per_model: dict[str, Policy] = {}
    tokens_per_day: int | None = None
    concurrent_per_user: int | None = None


RedisErrorPolicy = Literal["fail_open", "fail_closed"]


class LimitsConfig(_Scopes):
    """Rate-limit policies. Policy strings look like `20/minute` or `200/day`."""

    # What to do while Redis is unreachable: serve with per-process memory limits, or refuse.
    on_redis_error: RedisErrorPolicy = "fail_open"
    # The old name of `on_redis_error`, still read (with a warning at start-up) so existing
    # YAML files keep working; `deprecated_names()` reports it.
    failure_mode: RedisErrorPolicy | None = None
    lease_ttl: float = Field(default=600.0, gt=0)  # seconds a crashed reply may hold its slot
    # Seconds a request from a service key (an API key: Open WebUI, scripts) waits for one of
    # its person's replies to end when `concurrent_per_user` is reached, before it is refused.
    # Open WebUI asks for a chat's title while the reply still streams. 0 = refuse at once.
    concurrent_wait: float = Field(default=120.0, ge=0)
    roles: dict[str, RoleLimits | Literal["unlimited"]] = {"admin": UNLIMITED}

    @field_validator("roles", mode="after")
    @classmethod
    def _admins_unlimited(
        cls, value: dict[str, RoleLimits | Literal["unlimited"]]
    ) -> dict[str, RoleLimits | Literal["unlimited"]]:
        # Admins are unlimited unless the file says otherwise (`admin: {}` limits them too).
        return value if "admin" in value else {"admin": UNLIMITED, **value}

    @model_validator(mode="before")
    @classmethod
    def _read_deprecated_name(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("failure_mode") is None:
            return data
        old, new = data["failure_mode"], data.get("on_redis_error")
        if new is not None and new != old:
            raise ValueError(
                "failure_mode is the old name of on_redis_error and disagrees with it; "
                "keep only on_redis_error"
            )
        return {**data, "on_redis_error": old}

    def deprecated_names(self) -> list[str]:
        """Old setting names this configuration used, as `old → new`, to warn about."""
        return ["limits.failure_mode → limits.on_redis_error"] if self.failure_mode else []

    def for_role(self, role: str) -> EffectivePolicy:
        """The policy for users with `role`."""
        override = self.roles.get(role)
        if override == UNLIMITED:
            return EffectivePolicy(unlimited=True)
        fields = {name: getattr(self, name) for name in _Scopes.model_fields}
        if isinstance(override, RoleLimits):
            for name in override.model_fields_set:
                fields[name] = getattr(override, name)
        return EffectivePolicy(**fields)
