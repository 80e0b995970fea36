"""The names settings go by (`HUB_PORT`, `HUB_TELEGRAM__TOKEN`, `routing.backends` in YAML), and
the one-line refusal of a name that is not one, with a "did you mean" when one is close.

pydantic-settings reads only the variables it knows and would let `HUB_PROT=9000` pass in
silence, so every `HUB_*` variable of the environment and of `.env` is checked here first.
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import NoDecode

PREFIX = "HUB_"
DELIMITER = "__"


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a settings section (`telegram: TelegramSettings`), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        models = [a for a in get_args(annotation) if section_model(a) is not None]
        return section_model(models[0]) if len(models) == 1 else None
    return None


def _is_open(annotation: Any) -> bool:
    """A mapping (or Any): nested names below it are its own keys, not settings."""
    if annotation is Any:
        return True
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_open(a) for a in get_args(annotation))
    return origin in (dict, Mapping)


def _expects_json(field: FieldInfo) -> bool:
    """Whether pydantic-settings parses this field's environment value as JSON."""
    if any(isinstance(m, NoDecode) or m is NoDecode for m in field.metadata):
        return False
    annotation = field.annotation
    options = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else ()
    for candidate in options or (annotation,):
        if section_model(candidate) is not None:
            return True
        if get_origin(candidate) in (list, dict, tuple, set, frozenset, Mapping, Sequence):
            return True
    return False


def known_names(model: type[BaseModel], prefix: str = PREFIX) -> list[str]:
    """Every variable name `model` reads: `HUB_PORT`, `HUB_TELEGRAM__TOKEN`, …"""
    names: list[str] = []
    for name, field in model.model_fields.items():
        full = f"{prefix}{name.upper()}"
        names.append(full)
        inner = section_model(field.annotation)
        if inner is not None:
            names.extend(known_names(inner, full + DELIMITER))
    return names


def _field_at(model: type[BaseModel], parts: Sequence[str]) -> tuple[int | None, FieldInfo | None]:
    """(index of the first part that names nothing, the field the parts end on)."""
    current: type[BaseModel] | None = model
    field: FieldInfo | None = None
    for i, part in enumerate(parts):
        if current is None:
            return (None, None) if field is not None and _is_open(field.annotation) else (i, None)
        field = current.model_fields.get(part)
        if field is None:
            return i, None
        current = section_model(field.annotation)
    return None, field


def check_variable(
    model: type[BaseModel], written: str, value: str | None, *, connectors: Iterable[str]
) -> str | None:
    """Why the variable `written` (e.g. `HUB_PROT`) cannot be used, or None when it can."""
    rest = written[len(PREFIX) :].lower()
    parts = rest.split(DELIMITER)
    if not all(parts):
        return f"{written}: not a setting name (a `__` separates a section from its key)"
    bad, field = _field_at(model, parts)
    if bad is not None:
        return f"{written}: unknown setting{unknown_hint(model, parts, bad, connectors)}"
    if field is not None and value and _expects_json(field):
        try:
            json.loads(value)
        except ValueError:
            return (
                f"{written}: expects JSON (a list or an object); settings like this one are "
                "easier to write in the HUB_CONFIG file"
            )
    return None


def unknown_hint(
    model: type[BaseModel], parts: Sequence[str], bad: int, connectors: Iterable[str]
) -> str:
    """The end of an "unknown setting" line for a variable: a close name, or why a section is
    missing (`parts[bad]` is the first part that names nothing)."""
    if bad == 0 and len(parts) > 1:
        sections = [n for n, f in model.model_fields.items() if section_model(f.annotation)]
        close = difflib.get_close_matches(parts[0], sections, n=1, cutoff=0.75)
        if close:
            return f"; did you mean {_env_name([close[0], *parts[1:]])}?"
        return _no_connector(parts[0], connectors)
    parent = _model_at(model, parts[:bad])
    if parent is None:
        return ""
    close = difflib.get_close_matches(parts[bad], list(parent.model_fields), n=1, cutoff=0.7)
    return f"; did you mean {_env_name([*parts[:bad], close[0]])}?" if close else ""


def yaml_hint(
    model: type[BaseModel], loc: Sequence[str | int], value: Any, connectors: Iterable[str]
) -> str:
    """The end of an "unknown setting" line for a key of the HUB_CONFIG file."""
    parent = _model_at(model, loc[:-1])
    key = str(loc[-1])
    if parent is None:
        return ""
    close = difflib.get_close_matches(key, list(parent.model_fields), n=1, cutoff=0.7)
    if close:
        return f"; did you mean {'.'.join([*map(str, loc[:-1]), close[0]])}?"
    if len(loc) == 1 and isinstance(value, Mapping):
        return _no_connector(key, connectors)
    return ""


def _no_connector(name: str, connectors: Iterable[str]) -> str:
    if name in connectors:
        return f"; the {name} connector has no settings"
    installed = ", ".join(sorted(connectors)) or "none"
    return (
        f"; no `{name}` connector is installed (installed connectors: {installed}), "
        "so it has no settings"
    )


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model that the path `loc` (field names and list indices) leads to, if any."""
    annotation: Any = model
    for part in loc:
        current = section_model(annotation)
        if current is not None and isinstance(part, str) and part in current.model_fields:
            annotation = current.model_fields[part].annotation
        elif get_origin(annotation) is list and isinstance(part, int):
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) is dict and isinstance(part, str):
            annotation = get_args(annotation)[1]
        else:
            return None
    return section_model(annotation)


def _env_name(parts: Sequence[str]) -> str:
    return PREFIX + DELIMITER.join(p.upper() for p in parts)


__all__ = ["check_variable", "known_names", "section_model", "unknown_hint", "yaml_hint"]
