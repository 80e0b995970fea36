"""The running hub's services, built once in the app lifespan and shared by every edge.

Edges (HTTP routes, connectors) reach the core only through this object, found on
`app.state.services`. Built by `hub/bootstrap.py`; `connector_states` is filled in by the
connector registry as each enabled connector starts (or fails to).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.core.coordination.bundle import Coordination
    from hub.core.ports import LimitGate, ModelRouter, Stores
    from hub.settings import HubSettings


@dataclass(frozen=True, slots=True)
class ConnectorState:
    """An enabled connector: running (`detail` says as whom), or down and why."""

    ok: bool
    detail: str


@dataclass
class Services:
    """Everything an edge may use. `chat` is the ChatService, `prompts` the PromptService,
    `coordination` what this process shares with the other replicas (leases for duties only
    one replica may do, the Stop tokens)."""

    settings: HubSettings
    stores: Stores
    router: ModelRouter
    limits: LimitGate
    chat: Any = None
    prompts: Any = None
    coordination: Coordination | None = None
    jobs: Any = None  # the JobService (hub/core/jobs/service.py)
    extras: dict[str, Any] = field(default_factory=dict)
    connector_states: dict[str, ConnectorState] = field(default_factory=dict)
    stopping: bool = False  # shutdown has begun: /ready says so, new requests are refused
