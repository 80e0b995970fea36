"""Routing configuration: backends, model aliases, rules, allowlists (YAML `routing:` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackendConfig(_Strict):
    """One model server.

    `url`: for `ollama`, the server root (`http://127.0.0.1:11434`); for `openai`, the API base
    as the openai client's `base_url` takes it, version included (`http://gpu:8000/v1`).
    """

    name: str
    kind: Literal["ollama", "openai"] = "ollama"
    url: str
    api_key: SecretStr | None = None
    max_concurrency: int = Field(default=4, ge=1)
    priority: int = 0  # higher wins among equally busy candidates


class Candidate(_Strict):
    """One place an alias may be served: a backend and the model name there."""

    backend: str
    model: str


class RuleConfig(_Strict):
    """Route matching requests to `model` (an alias or a model name). Unset fields match all."""

    model: str
    platform: str | None = None
    chat: str | None = None
    user: str | None = None
    role: str | None = None
    command: str | None = None


class RoutingConfig(_Strict):
    """The `routing:` YAML section. Empty `backends` means one Ollama at `HUB_OLLAMA_URL`."""

    backends: list[BackendConfig] = Field(default_factory=list)
    models: dict[str, list[Candidate]] = Field(default_factory=dict)  # alias -> candidates
    rules: list[RuleConfig] = Field(default_factory=list)
    chat_defaults: dict[str, str] = Field(default_factory=dict)  # "platform:chat_id" -> model
    allowlists: dict[str, list[str]] = Field(default_factory=dict)  # role -> models ("*" = any)
    probe_interval: float = Field(default=10.0, gt=0)
    failure_threshold: int = Field(default=3, ge=1)
    cooldown: float = Field(default=30.0, gt=0)
    queue_limit: int = Field(default=100, ge=0)
