"""What the model-management routes share: the router's fleet, the admin check, and how a
backend's refusal becomes an HTTP error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

from hub.api.auth import Caller, services_of
from hub.api.catalog import catalog_of
from hub.api.errors import ApiError
from hub.core.ports import BackendError

if TYPE_CHECKING:
    from litestar import Request

    from hub.core.ports import ModelFleet

NOT_ADMIN = (
    "Only an administrator of this hub may {what}: it changes what everyone can use. The hub's "
    "operator can make this key's or person's hub user an admin (`chathub users role`)."
)
_STATUS = {"not_found": 404, "unsupported": 501, "bad_request": 400, "forbidden": 403}


@overload
def fleet_of(request: Request[Any, Any, Any]) -> ModelFleet: ...


@overload
def fleet_of(request: Request[Any, Any, Any], *, required: Literal[False]) -> ModelFleet | None: ...


def fleet_of(request: Request[Any, Any, Any], *, required: bool = True) -> ModelFleet | None:
    """The running router's fleet; without one (a test double) a 501, or None if not
    `required`."""
    fleet: ModelFleet | None = getattr(services_of(request).router, "fleet", None)
    if fleet is None and required:
        raise ApiError(501, "This hub's router cannot manage or load models.")
    return fleet


def require_admin(caller: Caller, what: str) -> None:
    if caller.user.role != "admin":
        raise ApiError(403, NOT_ADMIN.format(what=what))


def fleet_error(exc: BackendError) -> ApiError:
    """The HTTP error for a failed model change or load: the server's own status when it gave
    one (404 for an unknown model, 400 for a bad name), 501 for what only Ollama can do, else
    502 (the server failed or could not be reached)."""
    status = _STATUS.get(exc.kind) or exc.status or 502
    if status < 400 or (status >= 500 and status != 501):
        status = 502
    return ApiError(status, exc.reason)


async def models_changed(request: Request[Any, Any, Any]) -> None:
    """Make the next model list (`/api/tags`, `/v1/models`) show a change at once."""
    await catalog_of(request).listings(fresh=True)
