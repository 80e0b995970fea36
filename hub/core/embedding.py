"""EmbeddingService: embeddings through the same limits, router and usage counting as replies.

An embedding request (Open WebUI indexing a document, a RAG library) is charged to the user's
daily token budget and to the model's own rate (`limits.per_model`), goes through the router's
fair queue and failover, and its prompt tokens are counted in usage like a reply's. It is not
charged to the message rates or the reply slots: one uploaded document is hundreds of batches.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime

from hub.core.generation import backend_failed, refused
from hub.core.models import Failed, User, utcnow
from hub.core.ports import (
    BackendError,
    Embeddings,
    EmbedRequest,
    LimitGate,
    ModelRouter,
    RouteContext,
    RoutesEmbeddings,
    StoreError,
    UsageStore,
)

log = logging.getLogger(__name__)

ROUTE = "embed"  # RouteContext.command of embedding requests


class EmbeddingService:
    """Embeddings for hub users; `chars_per_token` estimates tokens a server did not count."""

    def __init__(
        self,
        router: ModelRouter,
        limits: LimitGate,
        usage: UsageStore,
        *,
        chars_per_token: float = 3.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._router = router
        self._limits = limits
        self._usage = usage
        self._chars_per_token = chars_per_token
        self._clock = clock

    async def embed(
        self, user: User, request: EmbedRequest, *, platform: str, chat_id: str
    ) -> Embeddings | Failed:
        """The vectors for `request`, or the `Failed` event saying why not (refused by the
        limits, unknown model, no backend could answer)."""
        if user.disabled:
            return Failed("Your account on this hub is disabled.", code="forbidden")
        if not isinstance(self._router, RoutesEmbeddings):
            return Failed("This hub's router does not serve embeddings.", code="bad_request")
        admission = await self._limits.admit_embedding(user, request.model)
        if not admission.allowed:
            return refused(admission, request.model)
        ctx = RouteContext(user, platform, chat_id, requested_model=request.model, command=ROUTE)
        try:
            result = await self._router.embed(ctx, request)
        except BackendError as exc:
            return backend_failed(exc, model=request.model)
        await self._count(user, request, result)
        return result

    async def _count(self, user: User, request: EmbedRequest, result: Embeddings) -> None:
        tokens, estimated = result.prompt_tokens, 0
        if not tokens:
            chars = sum(len(text) for text in request.inputs)
            tokens = estimated = math.ceil(chars / self._chars_per_token) if chars else 0
        if not tokens:
            return
        day = self._clock().date().isoformat()
        try:
            await self._limits.record_usage(user, request.model, tokens, 0)
            await self._usage.add(
                user.id,
                request.model,
                day,
                prompt_tokens=tokens,
                completion_tokens=0,
                estimated_tokens=estimated,
            )
        except StoreError as exc:
            log.error("could not count embedding usage", extra={"user": user.id, "error": str(exc)})
