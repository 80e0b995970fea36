"""Which model a request uses (rules, choices, defaults), who may use it, and which target first."""

from __future__ import annotations

from collections.abc import Iterable

from hub.core.models import User
from hub.core.ports import BackendError, RouteContext
from hub.core.routing.catalog import Catalog
from hub.core.routing.state import Target, canonical
from hub.core.routing_config import RoutingConfig, RuleConfig
from hub.core.wording import SEE_MODELS


def _command(name: str | None) -> str:
    return (name or "").lstrip("/").lower()


def rule_matches(rule: RuleConfig, ctx: RouteContext) -> bool:
    """Every field the rule sets must match; `chat` may be `chat_id` or `platform:chat_id`."""
    if rule.platform is not None and rule.platform != ctx.platform:
        return False
    if rule.chat is not None and rule.chat not in (ctx.chat_id, f"{ctx.platform}:{ctx.chat_id}"):
        return False
    if rule.user is not None and rule.user != ctx.user.id:
        return False
    if rule.role is not None and rule.role != ctx.user.role:
        return False
    if rule.command is None:
        return True
    wanted = _command(rule.command)
    return wanted in (_command(ctx.command), _command(ctx.typed_command))


def rank(targets: Iterable[Target]) -> list[Target]:
    """Up targets, least busy first (in-flight vs capacity), then higher priority, then order."""
    up = [t for t in targets if not t.state.down]
    up.sort(key=lambda t: (t.state.load, -t.state.config.priority, t.order))
    return up


class Selector:
    """Resolves the model for a request and checks per-role allowlists."""

    def __init__(self, config: RoutingConfig, catalog: Catalog, default_model: str | None) -> None:
        self._rules = list(config.rules)
        self._chat_defaults = dict(config.chat_defaults)
        self._allowlists = {
            role: frozenset(canonical(m) for m in models)
            for role, models in config.allowlists.items()
        }
        self._catalog = catalog
        self._default_model = default_model

    def resolve(self, ctx: RouteContext) -> str:
        """Rule, then the requested model, then the user's choice, chat default, global default.

        Raises `BackendError` when an explicitly requested model is not allowed for the user's
        role, or when there is no model at all (nothing configured and no backend answered).
        """
        for rule in self._rules:
            if rule_matches(rule, ctx):
                return rule.model
        if ctx.requested_model:
            if not self.permitted(ctx.user, ctx.requested_model):
                raise BackendError(
                    f"You may not use the model '{ctx.requested_model}'. {SEE_MODELS.chat}",
                    kind="forbidden",
                )
            return ctx.requested_model
        # A choice the allowlist no longer permits is ignored rather than failing every reply.
        if ctx.user.model and self.permitted(ctx.user, ctx.user.model):
            return ctx.user.model
        chat_default = self._chat_defaults.get(f"{ctx.platform}:{ctx.chat_id}")
        if chat_default:
            return chat_default
        if self._default_model:
            return self._default_model
        first = self._catalog.first_model()
        if first is None:
            raise BackendError(
                "No model is available right now: no model server has answered yet. "
                "Please try again in a minute.",
                kind="unavailable",
            )
        return first

    def permitted(self, user: User, model: str) -> bool:
        """The allowlist check alone: no list for the role, `*`, or the model is on it."""
        allowlist = self._allowlists.get(user.role)
        if allowlist is None or "*" in allowlist:
            return True
        return canonical(model) in allowlist

    def allowed(self, user: User, model: str) -> bool:
        """Whether `user` may choose `model`: the router knows it and the role permits it."""
        return self._catalog.knows(model) and self.permitted(user, model)
