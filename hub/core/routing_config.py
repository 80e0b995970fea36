"""Routing configuration: backends, model aliases, rules, allowlists (YAML `routing:` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hub.core.urls import http_url

DEFAULT_BACKEND = "ollama"  # the backend built from HUB_OLLAMA_URL when none is configured
MIN_CONTEXT_WINDOW = 64  # tokens; no chat model has less, so a smaller number is a typo


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackendModelConfig(_Strict):
    """Settings of one model on one backend (`routing.backends[].models`)."""

    context_window: int | None = Field(default=None, ge=MIN_CONTEXT_WINDOW)


class BackendConfig(_Strict):
    """One model server.

    `url`: for `ollama`, the server root (`http://127.0.0.1:11434`); for `openai`, the API base
    as the openai client's `base_url` takes it, version included (`http://gpu:8000/v1`).
    `context_window` (every model here) and `models.<name>.context_window` override what the
    server reports or the hub learns. `probe_interval` overrides `routing.probe_interval`.
    """

    name: str
    kind: Literal["ollama", "openai"] = "ollama"
    url: str
    api_key: SecretStr | None = None
    max_concurrency: int = Field(default=4, ge=1)
    priority: int = 0  # higher wins among equally busy candidates
    probe_interval: float | None = Field(default=None, gt=0)
    context_window: int | None = Field(default=None, ge=MIN_CONTEXT_WINDOW)
    models: dict[str, BackendModelConfig] = Field(default_factory=dict)

    def configured_window(self, model: str) -> int | None:
        """The window the YAML sets for `model` here (`name` and `name:latest` alike)."""
        for name in (model, model.removesuffix(":latest"), f"{model}:latest"):
            entry = self.models.get(name)
            if entry is not None and entry.context_window is not None:
                return entry.context_window
        return self.context_window

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        # An Ollama URL may be written as OLLAMA_HOST is (`127.0.0.1:11434`, meaning http://).
        ollama = info.data.get("kind", "ollama") == "ollama"
        return http_url(value, default_port=11434 if ollama else None)


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
    probe_timeout: float = Field(default=5.0, gt=0)  # one health check (probe + model list)
    failure_threshold: int = Field(default=3, ge=1)
    cooldown: float = Field(default=30.0, gt=0)
    queue_limit: int = Field(default=100, ge=0)
    context_cache_ttl: float = Field(default=300.0, ge=0)  # reported windows are re-asked after
    # The Ollama backend that receives a model pulled or created when no backend has it yet
    # (and no `?backend=` names one); unset: the first Ollama backend.
    pull_backend: str | None = None

    @model_validator(mode="after")
    def _check_references(self) -> RoutingConfig:
        names = [b.name for b in self.backends]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"backend names must be unique; repeated: {', '.join(duplicates)}")
        known = set(names) or {DEFAULT_BACKEND}
        if self.pull_backend is not None:
            kinds = {b.name: b.kind for b in self.backends} or {DEFAULT_BACKEND: "ollama"}
            if kinds.get(self.pull_backend) != "ollama":
                ollama = sorted(n for n, k in kinds.items() if k == "ollama") or ["none"]
                raise ValueError(
                    f"pull_backend: '{self.pull_backend}' is not an Ollama backend here "
                    f"(Ollama backends: {', '.join(ollama)})"
                )
        for alias, candidates in self.models.items():
            if not candidates:
                raise ValueError(f"model alias '{alias}' needs at least one candidate")
            for candidate in candidates:
                if candidate.backend not in known:
                    raise ValueError(
                        f"model alias '{alias}' names backend '{candidate.backend}', "
                        f"which is not configured (known: {', '.join(sorted(known))})"
                    )
        return self
