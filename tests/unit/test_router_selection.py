"""Router selection: rules, requested model, user choice, defaults, allowlists, config."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.bootstrap import backend_configs, build_router
from hub.core.models import Started
from hub.core.ports import BackendError
from hub.core.routing_config import BackendConfig, Candidate, RoutingConfig, RuleConfig
from hub.settings import HubSettings, SettingsError, load_settings
from tests.unit.router_doubles import (
    ScriptedBackend,
    collect,
    ctx,
    make_router,
    request,
    user,
)


def _two_backends() -> list[ScriptedBackend]:
    return [
        ScriptedBackend("gpu", models=["llama3:latest", "qwen2.5:7b"]),
        ScriptedBackend("laptop", models=["phi3:latest"]),
    ]


async def test_rule_routes_a_discord_channel_to_an_alias() -> None:
    gpu, laptop = _two_backends()
    router = make_router(
        [gpu, laptop],
        models={"fast": [Candidate(backend="laptop", model="phi3")]},
        rules=[RuleConfig(platform="discord", chat="555", model="fast")],
        default_model="llama3",
    )
    await router.probe_now()
    in_channel = ctx(platform="discord", chat_id="555")
    elsewhere = ctx(platform="discord", chat_id="556")
    assert router.resolve(in_channel) == "fast"
    assert router.resolve(elsewhere) == "llama3"
    # The rule outranks the user's own choice.
    assert router.resolve(ctx(user(model="qwen2.5:7b"), platform="discord", chat_id="555")) == (
        "fast"
    )
    events = await collect(router.stream(in_channel, request(router.resolve(in_channel))))
    assert Started(model="phi3", backend="laptop") in events
    assert len(laptop.calls) == 1 and not gpu.calls


async def test_rules_match_user_role_command_and_platform_prefixed_chat() -> None:
    router = make_router(
        _two_backends(),
        rules=[
            RuleConfig(user="vip", model="by-user"),
            RuleConfig(role="admin", command="/code", model="by-role-command"),
            RuleConfig(chat="slack:C1", model="by-chat"),
        ],
        default_model="llama3",
    )
    assert router.resolve(ctx(user("vip"))) == "by-user"
    assert router.resolve(ctx(user("a", role="admin"), command="code")) == "by-role-command"
    assert router.resolve(ctx(user("a", role="admin"), command="other")) == "llama3"
    assert router.resolve(ctx(user("b"), command="/code")) == "llama3"
    assert router.resolve(ctx(platform="slack", chat_id="C1")) == "by-chat"
    assert router.resolve(ctx(platform="discord", chat_id="C1")) == "llama3"


async def test_selection_order_user_then_chat_default_then_global() -> None:
    router = make_router(
        _two_backends(),
        chat_defaults={"telegram:group": "qwen2.5:7b"},
        default_model="phi3",
    )
    await router.probe_now()
    assert router.resolve(ctx(user(model="llama3"), chat_id="group")) == "llama3"
    assert router.resolve(ctx(chat_id="group")) == "qwen2.5:7b"
    assert router.resolve(ctx(chat_id="other")) == "phi3"
    assert router.resolve(ctx(requested="llama3:latest", chat_id="group")) == "llama3:latest"


async def test_global_default_falls_back_to_first_model_of_first_healthy_backend() -> None:
    gpu, laptop = _two_backends()
    router = make_router([gpu, laptop], failure_threshold=1)
    with pytest.raises(BackendError) as err:
        router.resolve(ctx())
    assert err.value.kind == "unavailable"
    await router.probe_now()
    assert router.resolve(ctx()) == "llama3:latest"
    gpu.probe_error = BackendError("connection refused", kind="connect")
    await router.probe_now()
    assert router.resolve(ctx()) == "phi3:latest"  # gpu is down: the first healthy one's
    laptop.probe_error = BackendError("connection refused", kind="connect")
    await router.probe_now()
    # Every backend down: still a model (gpu's), so the reply names the backend that is down.
    assert router.resolve(ctx()) == "llama3:latest"
    gpu.probe_error = None
    await router.probe_now()
    assert router.resolve(ctx()) == "llama3:latest"


async def test_allowlist_per_role() -> None:
    router = make_router(
        _two_backends(),
        models={"fast": [Candidate(backend="laptop", model="phi3")]},
        allowlists={"user": ["fast", "llama3"], "admin": ["*"]},
    )
    await router.probe_now()
    plain, admin, pending = user(), user("a", role="admin"), user("p", role="pending")
    assert router.allowed(plain, "fast")
    assert router.allowed(plain, "llama3:latest")  # :latest is the same model
    assert not router.allowed(plain, "qwen2.5:7b")
    assert router.allowed(admin, "qwen2.5:7b")
    assert router.allowed(pending, "qwen2.5:7b")  # no list for the role: any known model
    assert not router.allowed(admin, "nonexistent")
    # A stored choice the allowlist no longer permits is skipped, not an error.
    assert router.resolve(ctx(user(model="qwen2.5:7b"))) == "llama3:latest"
    with pytest.raises(BackendError) as err:
        router.resolve(ctx(requested="qwen2.5:7b"))
    assert err.value.kind == "forbidden"
    assert "qwen2.5:7b" in err.value.reason


async def test_latest_suffix_is_the_same_model_both_ways() -> None:
    gpu = ScriptedBackend("gpu", models=["llama3:latest", "mistral"])
    router = make_router([gpu], models={"fast": [Candidate(backend="gpu", model="mistral")]})
    await router.probe_now()
    for asked, sent in [
        ("llama3", "llama3:latest"),
        ("llama3:latest", "llama3:latest"),
        ("mistral:latest", "mistral"),
        ("fast:latest", "mistral"),
    ]:
        events = await collect(router.stream(ctx(), request(asked)))
        assert events[0] == Started(model=sent, backend="gpu")
        assert gpu.calls[-1].model == sent


async def test_unknown_model_is_refused_with_a_helpful_message() -> None:
    router = make_router(_two_backends())
    await router.probe_now()
    with pytest.raises(BackendError) as err:
        await collect(router.stream(ctx(), request("nonexistent")))
    assert err.value.kind == "not_found"
    assert "/models" in err.value.reason


def test_config_rejects_unknown_backend_in_alias_and_duplicate_names() -> None:
    with pytest.raises(ValidationError, match="not configured"):
        RoutingConfig(
            backends=[BackendConfig(name="gpu", url="http://x")],
            models={"fast": [Candidate(backend="laptop", model="phi3")]},
        )
    with pytest.raises(ValidationError, match="unique"):
        RoutingConfig(
            backends=[BackendConfig(name="gpu", url="http://x"), BackendConfig(name="gpu", url="y")]
        )
    # With no backends the implicit one is called "ollama".
    RoutingConfig(models={"fast": [Candidate(backend="ollama", model="phi3")]})


def test_build_router_defaults_to_one_ollama_backend() -> None:
    settings = HubSettings(ollama_url="http://gpu-box:11434", default_model="llama3")
    built = backend_configs(settings)
    router = build_router(settings, [ScriptedBackend(c.name) for c in built])
    assert [(c.name, c.url, c.kind) for c in built] == [
        ("ollama", "http://gpu-box:11434", "ollama")
    ]
    assert router.resolve(ctx()) == "llama3"
    assert [s.name for s in router.status()] == ["ollama"]


def test_routing_section_loads_from_yaml_and_bad_alias_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(
        "routing:\n"
        "  backends:\n"
        "    - {name: gpu, url: 'http://gpu:11434', max_concurrency: 2, priority: 5}\n"
        "  models:\n"
        "    fast: [{backend: gpu, model: 'llama3.2:3b'}]\n"
        "  rules: [{platform: discord, chat: '42', model: fast}]\n"
        "  queue_limit: 7\n",
        encoding="utf-8",
    )
    settings = load_settings(config=str(path))
    assert settings.routing.backends[0].priority == 5
    assert settings.routing.queue_limit == 7
    router = build_router(settings, [ScriptedBackend(c.name) for c in backend_configs(settings)])
    assert router.resolve(ctx(platform="discord", chat_id="42")) == "fast"
    path.write_text("routing:\n  models:\n    fast: [{backend: gpu, model: x}]\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"routing.*HUB_CONFIG.*'gpu'.*not configured"):
        load_settings(config=str(path))
