"""What the router can serve: aliases, the models each backend lists, and where they run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub.core.ports import BackendError, ModelInfo, ModelListing
from hub.core.routing.state import BackendState, Target, canonical
from hub.core.routing_config import Candidate, RoutingConfig
from hub.core.wording import SEE_MODELS

# (backend index, canonical model name) -> that backend's /api/ps item
Loaded = Mapping[tuple[int, str], Mapping[str, Any]]


class Catalog:
    """Maps a requested name to its candidate targets and lists the hub's models.

    An alias maps to its configured candidates, in order. A plain model name maps to every
    backend that lists it, in backend config order, plus every backend whose list is not
    known yet (it may well have the model). Down backends are included: the caller decides
    what to do with them, and needs them to explain why a request could not be served.
    """

    def __init__(self, config: RoutingConfig, states: Sequence[BackendState]) -> None:
        self._states = list(states)
        by_name = {s.name: s for s in self._states}
        self._aliases: dict[str, tuple[str, list[Candidate]]] = {}
        for alias, candidates in config.models.items():
            self._aliases.setdefault(canonical(alias), (alias, list(candidates)))
        self._alias_targets = {
            key: [Target(by_name[c.backend], c.model, order=i) for i, c in enumerate(candidates)]
            for key, (_, candidates) in self._aliases.items()
        }

    def is_alias(self, name: str) -> bool:
        return canonical(name) in self._aliases

    def knows(self, name: str) -> bool:
        """Whether `name` is an alias or a model some backend listed when last asked."""
        key = canonical(name)
        if key in self._aliases:
            return True
        return any(s.models is not None and key in s.models for s in self._states)

    def targets(self, name: str) -> list[Target]:
        """Every target that could serve `name`, in configured order; raises if there is none."""
        key = canonical(name)
        alias = self._alias_targets.get(key)
        if alias is not None:
            return alias
        found: list[Target] = []
        for state in self._states:
            if state.models is None:
                found.append(Target(state, name, order=state.index))
            elif key in state.models:
                found.append(Target(state, state.models[key].name, order=state.index))
        if not found:
            raise BackendError(
                f"The model '{name}' is not available here. {SEE_MODELS.chat}",
                kind="not_found",
            )
        return found

    def first_model(self) -> str | None:
        """The first model the first healthy backend lists (the default of last resort); when
        every backend is down, the first one's, so the reply names the backend that is down."""
        for state in sorted(self._states, key=lambda s: s.down):  # stable: config order kept
            if state.models:
                return next(iter(state.models.values())).name
        return None

    def listings(self) -> list[ModelListing]:
        """Aliases, then every backend's models, no duplicates. A backend held back after
        failures keeps its models listed: asking for one says the backend is unavailable and
        when it is retried, rather than that the model does not exist."""
        result = [
            listing for key in self._aliases if (listing := self._alias_listing(key)) is not None
        ]
        models: dict[str, tuple[ModelInfo, list[str]]] = {}
        for state in self._states:
            if not state.models:
                continue
            for key, info in state.models.items():
                if key in self._aliases:
                    continue  # an alias shadows a model of the same name
                models.setdefault(key, (info, []))[1].append(state.name)
        for info, backends in models.values():
            result.append(ModelListing(name=info.name, backends=tuple(backends), info=info))
        return result

    def _alias_listing(self, key: str) -> ModelListing | None:
        alias, _ = self._aliases[key]
        targets = sorted(self._alias_targets[key], key=lambda t: t.state.down)  # up ones first
        if not targets:
            return None
        backends = tuple(dict.fromkeys(t.state.name for t in targets))
        models = tuple(dict.fromkeys(t.model for t in self._alias_targets[key]))
        info = None
        for target in targets:
            if target.state.models and (found := target.state.models.get(canonical(target.model))):
                info = found
                break
        return ModelListing(name=alias, backends=backends, info=info, alias_of=models)

    def running(self, loaded: Loaded) -> list[dict[str, Any]]:
        """`/api/ps` items named as `listings` names them: an alias once one of its candidates
        is loaded, then each loaded model once (the first backend in config order wins)."""
        result: list[dict[str, Any]] = []
        for key, (alias, _) in self._aliases.items():
            for target in self._alias_targets[key]:
                item = loaded.get((target.state.index, canonical(target.model)))
                if item is not None:
                    result.append({**item, "name": alias, "model": alias})
                    break
        seen: set[str] = set()
        for (_, key), item in sorted(loaded.items(), key=lambda entry: entry[0][0]):
            if key in self._aliases or key in seen:
                continue  # an alias shadows a model of the same name, as in `listings`
            seen.add(key)
            name = self._listed_name(key) or str(item.get("model") or item.get("name") or key)
            result.append({**item, "name": name, "model": name})
        return result

    def _listed_name(self, key: str) -> str | None:
        for state in self._states:
            if not state.down and state.models and (info := state.models.get(key)):
                return info.name
        return None
