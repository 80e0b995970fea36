"""Ports: the Protocols the core talks to. Edges and adapters implement them.

Every port has a real implementation and an embedded twin, and one contract suite in
`tests/contract/` runs against all of them. One module per kind of port; everything is
re-exported here, so code imports `from hub.core.ports import X`.
"""

from hub.core.ports.backends import (
    BackendChunk,
    ChatBackend,
    ChatRequest,
    Completion,
    Delta,
    Final,
    ModelInfo,
    ReportsContextWindows,
    ReportsRunning,
)
from hub.core.ports.coordination import SlotScheduler, SlotTicket
from hub.core.ports.errors import (
    BackendError,
    ContextOverflow,
    DuplicateError,
    StoreError,
)
from hub.core.ports.limits import (
    Admission,
    Allowance,
    Decision,
    DescribesLimits,
    LimitCheck,
    LimitGate,
    Rate,
    RateLimiter,
)
from hub.core.ports.routing import (
    ModelListing,
    ModelRouter,
    RouteContext,
)
from hub.core.ports.sinks import (
    EditBudget,
    LearnedLimit,
    MessageSink,
    NativeStream,
    Scope,
    SinkError,
    SinkMessageGone,
    SinkRateLimited,
    SinkRejectedMarkup,
    SinkStreamUnavailable,
    SinkText,
    StreamingSink,
    WriteKind,
)
from hub.core.ports.stores import (
    ConversationStore,
    PromptStore,
    SettingStore,
    Stores,
    UsageStore,
    UserStore,
    WebChatStore,
)

__all__ = [
    "Admission",
    "Allowance",
    "BackendChunk",
    "BackendError",
    "ChatBackend",
    "ChatRequest",
    "Completion",
    "ContextOverflow",
    "ConversationStore",
    "Decision",
    "Delta",
    "DescribesLimits",
    "DuplicateError",
    "EditBudget",
    "Final",
    "LearnedLimit",
    "LimitCheck",
    "LimitGate",
    "MessageSink",
    "ModelInfo",
    "ModelListing",
    "ModelRouter",
    "NativeStream",
    "PromptStore",
    "Rate",
    "RateLimiter",
    "ReportsContextWindows",
    "ReportsRunning",
    "RouteContext",
    "Scope",
    "SettingStore",
    "SinkError",
    "SinkMessageGone",
    "SinkRateLimited",
    "SinkRejectedMarkup",
    "SinkStreamUnavailable",
    "SinkText",
    "SlotScheduler",
    "SlotTicket",
    "StoreError",
    "Stores",
    "StreamingSink",
    "UsageStore",
    "UserStore",
    "WebChatStore",
    "WriteKind",
]
