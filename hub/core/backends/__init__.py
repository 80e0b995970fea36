"""Model backends: Ollama and OpenAI-compatible servers behind the `ChatBackend` port."""

from __future__ import annotations

from hub.core.backends.ollama import OllamaBackend, context_length
from hub.core.backends.openai import OpenAIBackend
from hub.core.chat_config import ChatConfig
from hub.core.ports import ChatBackend
from hub.core.routing_config import BackendConfig

__all__ = ["OllamaBackend", "OpenAIBackend", "build_backend", "context_length"]


def build_backend(cfg: BackendConfig, chat: ChatConfig) -> ChatBackend:
    """The backend `cfg` describes, with the pipeline's timeouts. Call inside the running loop
    (the app lifespan) and `aclose()` it on shutdown."""
    api_key = cfg.api_key.get_secret_value() if cfg.api_key is not None else None
    if cfg.kind == "openai":
        return OpenAIBackend(
            cfg.name,
            cfg.url,
            api_key=api_key,
            connect_timeout=chat.connect_timeout,
            first_token_timeout=chat.first_token_timeout,
            chunk_timeout=chat.chunk_timeout,
        )
    return OllamaBackend(
        cfg.name,
        cfg.url,
        api_key=api_key,
        keep_alive=chat.keep_alive,
        connect_timeout=chat.connect_timeout,
        first_token_timeout=chat.first_token_timeout,
        chunk_timeout=chat.chunk_timeout,
    )
