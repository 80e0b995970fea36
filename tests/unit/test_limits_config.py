"""The `limits:` YAML section: policy strings, bursts, roles and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.core.limits.config import LimitsConfig, parse_rate
from hub.core.ports import Rate
from hub.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20/minute", (20, 60.0, "minute")),
        ("200/day", (200, 86400.0, "day")),
        ("5/second", (5, 1.0, "second")),
        ("5 / Seconds", (5, 1.0, "second")),
        ("100/hour", (100, 3600.0, "hour")),
        ("10/30s", (10, 30.0, "30 s")),
        ("3/5min", (3, 300.0, "5 min")),
        ("1/0.5s", (1, 0.5, "0.5 s")),
    ],
)
def test_rates_parse(text: str, expected: tuple[int, float, str]) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["20/fortnight", "0/minute", "20", "minute", "-1/s", "2/0s"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_burst_defaults_to_the_whole_count_and_is_configurable() -> None:
    config = LimitsConfig.model_validate(
        {"per_user": "20/minute", "per_chat": {"rate": "10/minute", "burst": 3}}
    )
    assert config.per_user is not None and config.per_chat is not None
    assert config.per_user.to_rate() == Rate(limit=20, period=60.0, burst=19, text="20/minute")
    assert config.per_chat.to_rate() == Rate(limit=10, period=60.0, burst=2, text="10/minute")


def test_global_key_and_roles() -> None:
    config = LimitsConfig.model_validate(
        {
            "global": "100/minute",
            "per_user": "5/minute",
            "tokens_per_day": 1000,
            "roles": {"user": {"per_user": "unlimited", "tokens_per_day": 50}},
        }
    )
    assert config.global_ is not None and config.global_.count == 100
    assert config.for_role("admin").unlimited  # admins are unlimited unless configured
    user = config.for_role("user")
    assert (user.per_user, user.tokens_per_day, user.global_) == (None, 50, config.global_)
    pending = config.for_role("pending")
    assert (pending.per_user, pending.tokens_per_day) == (config.per_user, 1000)
    assert LimitsConfig().for_role("admin").unlimited


@pytest.mark.parametrize(
    ("data", "loc", "value"),
    [
        ({"per_user": "20/fortnight"}, ("per_user",), "'20/fortnight'"),
        ({"global": "lots"}, ("global",), "'lots'"),
        ({"per_model": {"llama3": "9/week"}}, ("per_model", "llama3"), "'9/week'"),
        ({"per_chat": {"rate": "1/eon"}}, ("per_chat",), "'1/eon'"),
    ],
)
def test_errors_name_the_key_and_the_value(
    data: dict[str, object], loc: tuple[str, ...], value: str
) -> None:
    with pytest.raises(ValidationError) as info:
        LimitsConfig.model_validate(data)
    error = info.value.errors()[0]
    assert error["loc"] == loc
    assert error["msg"] == f"{value} is not a rate; use N/second, N/minute, N/hour or N/day"


def test_settings_file_error_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("limits:\n  per_user: 20/fortnight\n")
    with pytest.raises(SettingsError) as info:
        load_settings(config=path)
    assert str(info.value) == (
        "limits.per_user (in HUB_CONFIG): '20/fortnight' is not a rate; "
        "use N/second, N/minute, N/hour or N/day"
    )


def test_settings_file_with_global(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(
        "limits:\n  global: 50/second\n  on_redis_error: fail_closed\n"
        "  roles:\n    admin: unlimited\n    pending: {per_user: 1/minute}\n"
    )
    limits = load_settings(config=path).limits
    assert limits.global_ is not None and limits.global_.rate == "50/second"
    assert limits.on_redis_error == "fail_closed"
    assert limits.deprecated_names() == []


def test_on_redis_error_defaults_to_fail_open() -> None:
    assert LimitsConfig().on_redis_error == "fail_open"


def test_failure_mode_is_still_read_as_the_old_name(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("limits:\n  failure_mode: fail_closed\n")
    limits = load_settings(config=path).limits
    assert limits.on_redis_error == "fail_closed"
    assert limits.deprecated_names() == ["limits.failure_mode → limits.on_redis_error"]


def test_old_and_new_name_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("limits:\n  failure_mode: fail_closed\n  on_redis_error: fail_open\n")
    with pytest.raises(SettingsError) as info:
        load_settings(config=path)
    assert str(info.value) == (
        "limits (in HUB_CONFIG): failure_mode is the old name of on_redis_error and disagrees "
        "with it; keep only on_redis_error"
    )


def test_on_redis_error_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_LIMITS__ON_REDIS_ERROR", "fail_closed")
    assert load_settings(_env_file=None).limits.on_redis_error == "fail_closed"


def test_on_redis_error_rejects_other_values(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("limits:\n  on_redis_error: retry\n")
    with pytest.raises(SettingsError) as info:
        load_settings(config=path)
    assert str(info.value).startswith("limits.on_redis_error (in HUB_CONFIG): ")
