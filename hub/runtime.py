"""The running hub's services, built once in the app lifespan and shared by every edge.

Edges (HTTP routes, connectors) reach the core only through this object, found on
`app.state.services`. Fields are filled in by `hub/app.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.core.ports import LimitGate, ModelRouter, Stores
    from hub.settings import HubSettings


@dataclass
class Services:
    """Everything an edge may use. `chat` is the ChatService, `prompts` the PromptService."""

    settings: HubSettings
    stores: Stores
    router: ModelRouter
    limits: LimitGate
    chat: Any = None
    prompts: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
