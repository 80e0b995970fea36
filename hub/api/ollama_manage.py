"""Model management for administrators, in Ollama's shapes, relayed to the right backend.

`POST /api/pull`, `/api/push`, `/api/create` stream `{"status": …}` lines (with `digest`,
`total`, `completed` while bytes move) ending in `{"status": "success"}`, or answer the last
one alone with `"stream": false`; `POST /api/copy` and `DELETE /api/delete` answer 200 with no
body; `HEAD|POST /api/blobs/<digest>` hold the files a `create` names. Each goes to the backend
`?backend=NAME` names, else where the model lives, else `routing.pull_backend` (hub/core/routing/
fleet.py). Only administrators may; OpenAI-compatible servers answer 501. The model list shows
a change at once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, head, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream

from hub.api.auth import Caller
from hub.api.doc_shapes import ERRORS, NDJSON, Progress, StreamOrJson
from hub.api.errors import ApiError
from hub.api.fleet import fleet_error, fleet_of, models_changed, require_admin
from hub.core.ports import BackendError, ModelChange, ModelFleet, ModelOperation
from hub.core.routing.failover import close_quietly

log = logging.getLogger(__name__)

_encode = msgspec.json.encode
# `?backend=NAME`: the backend to use (default: where the model is, else routing.pull_backend).
Backend = Annotated[
    str | None,
    QueryParameter(
        name="backend",
        required=False,
        description="The backend to use (default: where the model is, else routing.pull_backend).",
    ),
]
_DIGEST = re.compile(r"sha256[:-][0-9a-f]{64}")  # Ollama accepts both separators
_EMPTY_OK = {200: ResponseSpec(None, description="Done (no body, as Ollama answers).")}
_STREAMED = {
    200: ResponseSpec(
        Progress,
        description="NDJSON progress lines (`stream` omitted or true), or the last one alone "
        "as JSON (`stream: false`).",
        media_type=NDJSON,
    )
}


def _name(data: Mapping[str, Any], *fields: str) -> str:
    for field in fields:
        value = data.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise ApiError(400, f"{fields[0]} is required")


def _placed(
    fleet: ModelFleet, operation: ModelOperation, model: str, backend: str | None
) -> list[str]:
    try:
        return fleet.placement(operation, model, backend)
    except BackendError as exc:
        raise fleet_error(exc) from None


async def _progress(
    request: Request[Any, Any, Any],
    caller: Caller,
    operation: ModelOperation,
    data: dict[str, Any],
    backend: str | None,
    placed_by: str,
) -> Response[Any]:
    """Pull, push or create: the first progress object decides the status, then the rest
    streams (or, with `stream: false`, only the last is sent)."""
    require_admin(caller, f"{operation} models")
    model = _name(data, "model", "name")
    fleet = fleet_of(request)
    where = data.get(placed_by) if operation == "create" else model
    target = _placed(fleet, operation, str(where or model), backend)[0]
    change = ModelChange(operation, {k: v for k, v in data.items() if k != "stream"})
    log.info("model change", extra={"operation": operation, "model": model, "backend": target})
    progress = fleet.change_models(target, change)
    try:
        first = await anext(progress, None)
    except BackendError as exc:
        await close_quietly(progress)
        raise fleet_error(exc) from None
    if data.get("stream") is False:
        return Response(await _last(progress, first, request))
    return Stream(_lines(progress, first, request), media_type=NDJSON)


async def _last(
    progress: AsyncIterator[Mapping[str, Any]],
    first: Mapping[str, Any] | None,
    request: Request[Any, Any, Any],
) -> Mapping[str, Any]:
    last = first or {"status": "success"}
    try:
        async for item in progress:
            last = item
    except BackendError as exc:
        raise fleet_error(exc) from None
    await models_changed(request)
    return last


async def _lines(
    progress: AsyncIterator[Mapping[str, Any]],
    first: Mapping[str, Any] | None,
    request: Request[Any, Any, Any],
) -> AsyncIterator[bytes]:
    """NDJSON; a failure midway is one last `{"error": …}` line, as Ollama writes it. A client
    that leaves cancels this, which closes the upstream request (a pull stops)."""
    try:
        if first is not None:
            yield _encode(first) + b"\n"
        async for item in progress:
            yield _encode(item) + b"\n"
        await models_changed(request)
    except BackendError as exc:
        yield _encode({"error": exc.reason}) + b"\n"
    finally:
        await close_quietly(progress)


async def _plain(
    request: Request[Any, Any, Any],
    caller: Caller,
    operation: ModelOperation,
    data: dict[str, Any],
    backend: str | None,
) -> Response[Any]:
    """Copy (on the source's backend) or delete (from every backend holding the model)."""
    require_admin(caller, f"{operation} models")
    if operation == "copy":
        model = _name(data, "source")
        _name(data, "destination")
    else:
        model = _name(data, "model", "name")
    fleet = fleet_of(request)
    for target in _placed(fleet, operation, model, backend):
        log.info("model change", extra={"operation": operation, "model": model, "backend": target})
        try:
            async for _ in fleet.change_models(target, ModelChange(operation, data)):
                pass
        except BackendError as exc:
            raise fleet_error(exc) from None
    await models_changed(request)
    return Response(b"", media_type="text/plain")


@post("/api/pull", status_code=200, responses={**_STREAMED, **ERRORS}, operation_class=StreamOrJson)
async def pull_model(
    request: Request[Any, Any, Any],
    data: JSONBody[dict[str, Any]],
    caller: NamedDependency[Caller],
    backend: Backend = None,
) -> Response[Any]:
    """Download a model from a registry onto an Ollama backend (administrators)."""
    return await _progress(request, caller, "pull", data, backend, "model")


@post("/api/push", status_code=200, responses={**_STREAMED, **ERRORS}, operation_class=StreamOrJson)
async def push_model(
    request: Request[Any, Any, Any],
    data: JSONBody[dict[str, Any]],
    caller: NamedDependency[Caller],
    backend: Backend = None,
) -> Response[Any]:
    """Upload a model from the backend holding it to a registry (administrators)."""
    return await _progress(request, caller, "push", data, backend, "model")


@post(
    "/api/create", status_code=200, responses={**_STREAMED, **ERRORS}, operation_class=StreamOrJson
)
async def create_model(
    request: Request[Any, Any, Any],
    data: JSONBody[dict[str, Any]],
    caller: NamedDependency[Caller],
    backend: Backend = None,
) -> Response[Any]:
    """Create a model (`from` another, or from uploaded `files`) where its base lives
    (administrators)."""
    return await _progress(request, caller, "create", data, backend, "from")


@post("/api/copy", status_code=200, responses={**_EMPTY_OK, **ERRORS})
async def copy_model(
    request: Request[Any, Any, Any],
    data: JSONBody[dict[str, Any]],
    caller: NamedDependency[Caller],
    backend: Backend = None,
) -> Response[Any]:
    """Copy `source` to `destination` on the backend holding the source (administrators)."""
    return await _plain(request, caller, "copy", data, backend)


@delete("/api/delete", status_code=200, responses={**_EMPTY_OK, **ERRORS})
async def delete_model(
    request: Request[Any, Any, Any],
    data: JSONBody[dict[str, Any]],
    caller: NamedDependency[Caller],
    backend: Backend = None,
) -> Response[Any]:
    """Delete a model from every Ollama backend holding it, or only the one `backend` names
    (administrators)."""
    return await _plain(request, caller, "delete", data, backend)


def _blob_backend(
    request: Request[Any, Any, Any], caller: Caller, backend: str | None, digest: str
) -> str:
    require_admin(caller, "upload model files")
    if not _DIGEST.fullmatch(digest):
        raise ApiError(400, "invalid digest format; expected sha256:<64 hex digits>")
    return _placed(fleet_of(request), "create", "", backend)[0]


@head("/api/blobs/{digest:str}", status_code=200, responses=ERRORS)
async def blob_exists(
    request: Request[Any, Any, Any],
    digest: FromPath[str],
    caller: NamedDependency[Caller],
    backend: Backend = None,
) -> Response[None]:
    """200 when the backend that takes new models holds the file, 404 when not."""
    target = _blob_backend(request, caller, backend, digest)
    try:
        found = await fleet_of(request).has_blob(target, digest)
    except BackendError as exc:
        raise fleet_error(exc) from None
    return Response(None, status_code=200 if found else 404)


@post(
    "/api/blobs/{digest:str}",
    status_code=201,
    request_max_body_size=None,  # model files are gigabytes; streamed, never held
    responses={201: ResponseSpec(None, description="Stored."), **ERRORS},
)
async def push_blob(
    request: Request[Any, Any, Any],
    digest: FromPath[str],
    caller: NamedDependency[Caller],
    backend: Backend = None,
) -> Response[Any]:
    """Upload a file for `/api/create` to the backend that takes new models."""
    target = _blob_backend(request, caller, backend, digest)
    try:
        await fleet_of(request).push_blob(target, digest, request.stream())
    except BackendError as exc:
        raise fleet_error(exc) from None
    return Response(b"", status_code=201, media_type="text/plain")


def management_handlers() -> list[Any]:
    handlers = [pull_model, push_model, create_model, copy_model, delete_model]
    return [*handlers, blob_exists, push_blob]


__all__ = ["management_handlers"]
