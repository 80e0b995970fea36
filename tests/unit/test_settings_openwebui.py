"""The settings issue 18 adds: HUB_TRUSTED_API_KEYS (named in DESIGN.md, refused as unknown
before), HUB_OLLAMA_VERSION, routing.pull_backend, limits.concurrent_wait."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_trusted_keys_are_api_keys_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_API_KEYS", "k1,shared")
    monkeypatch.setenv("HUB_TRUSTED_API_KEYS", "shared, webui-key,")
    s = load_settings()
    assert s.trusted_keys() == ["shared", "webui-key"]
    assert s.static_api_keys() == ["k1", "shared", "webui-key"]
    assert "webui-key" not in repr(s)


def test_ollama_version_must_look_like_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_OLLAMA_VERSION", "0.12.3")
    assert load_settings().ollama_version == "0.12.3"
    monkeypatch.setenv("HUB_OLLAMA_VERSION", "latest")
    with pytest.raises(SettingsError) as bad:
        load_settings()
    assert str(bad.value).startswith("HUB_OLLAMA_VERSION: 'latest' is not a version")


def test_pull_backend_must_name_an_ollama_backend(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        "routing:\n  backends:\n"
        "    - {name: gpu, url: 'http://gpu:11434'}\n"
        "    - {name: vllm, kind: openai, url: 'http://vllm:8000/v1'}\n"
        "  pull_backend: vllm\n",
        encoding="utf-8",
    )
    with pytest.raises(SettingsError) as bad:
        load_settings(config=config)
    assert str(bad.value) == (
        "routing.pull_backend (in HUB_CONFIG): 'vllm' is not an Ollama backend here "
        "(Ollama backends: gpu)"
    )
    config.write_text(config.read_text().replace("pull_backend: vllm", "pull_backend: gpu"))
    assert load_settings(config=config).routing.pull_backend == "gpu"


def test_default_backend_and_concurrent_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_ROUTING__PULL_BACKEND", "ollama")  # the HUB_OLLAMA_URL backend
    monkeypatch.setenv("HUB_LIMITS__CONCURRENT_WAIT", "30")
    s = load_settings()
    assert s.routing.pull_backend == "ollama" and s.limits.concurrent_wait == 30
    monkeypatch.setenv("HUB_LIMITS__CONCURRENT_WAIT", "-1")
    with pytest.raises(SettingsError) as bad:
        load_settings()
    assert str(bad.value).startswith("HUB_LIMITS__CONCURRENT_WAIT:")
