"""Authentication for the HTTP API: JWT users, static API keys, and route guards.

- Users sign up and sign in over `/api/v1/auths/*` and get an HS256 JWT with the claims `id`
  (hub user id) and `exp`. Tokens arrive as `Authorization: Bearer …` or a `token` cookie.
- Static API keys (`HUB_API_KEYS`) are for service connections (a stock Open WebUI, scripts) and
  are accepted on `/ollama/*` only. Each key acts as its own hub user, found or created through
  the identity store as platform `api-key` with a SHA-256 fingerprint of the key as the platform
  user id, so limits and usage are counted per key and the key itself is never stored.
- Trusted keys (`HUB_TRUSTED_API_KEYS`, API keys too) may name the person behind each request
  (`X-OpenWebUI-User-Id`, `X-Hub-User`): limits and usage then count that person
  (hub/api/forwarding.py). Other callers' person headers are ignored.
- A request that presents an `Authorization` header the hub does not accept gets 401 on every
  API route, public ones included (`reject_bad_credentials`), so a client configured with a
  wrong key learns it at once (Open WebUI's Verify Connection asks only `/api/version`).
- `pending` users may read their own account but get 403 on chat and prompt routes.
- A disabled user (or the principal of a disabled API key) gets 401 everywhere.
- A browser sends the `token` cookie with requests other sites make, so a request that changes
  something and is signed in only by the cookie must prove it was sent by a script of ours: a
  JSON content type or an `X-Requested-With` header. Another site can send neither without a
  CORS preflight, which the hub never grants (cross-site request forgery).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from litestar import Litestar, Request

from hub.api.errors import ApiError
from hub.api.forwarding import forwarded_person, person_user
from hub.api.passwords import Passwords
from hub.api.request_log import note_caller
from hub.core.models import PlatformUser, User

if TYPE_CHECKING:
    from hub.core.ports import UserStore
    from hub.runtime import Services
    from hub.settings import HubSettings

log = logging.getLogger(__name__)

API_KEY_PLATFORM = "api-key"
DISABLED = "This account is disabled; ask an administrator of this hub to enable it."
_STATE_KEY = "hub_authenticator"
_SECRET_FILE = "jwt_secret"
_MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-requested-with"
_CHECKED_KEY = "hub_credential"


def load_jwt_secret(settings: HubSettings) -> str:
    """HUB_JWT_SECRET, or a secret generated once into `<data_dir>/jwt_secret` (mode 0600).

    Blocking file I/O: call it at start-up or through `asyncio.to_thread`.
    """
    if settings.jwt_secret is not None and settings.jwt_secret.get_secret_value():
        secret = settings.jwt_secret.get_secret_value()
        if len(secret.encode("utf-8")) < _MIN_SECRET_BYTES:
            log.warning(
                "HUB_JWT_SECRET is shorter than 32 bytes; sign-in tokens are easier to forge. "
                "Use a longer random value (e.g. `openssl rand -base64 48`).",
                extra={"length": len(secret)},
            )
        return secret
    path = Path(settings.data_dir) / _SECRET_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its secret
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
    log.warning(
        "HUB_JWT_SECRET is not set; generated a secret into the data directory. Set "
        "HUB_JWT_SECRET to keep sign-ins valid across data directories and replicas.",
        extra={"path": str(path)},
    )
    return secret


def _fingerprint(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class Authenticator:
    """Issues and checks tokens, recognises API keys, and resolves the hub user of a request."""

    def __init__(
        self,
        *,
        secret: str,
        ttl: int,
        api_keys: Sequence[str],
        users: UserStore,
        trusted_keys: Sequence[str] = (),
    ) -> None:
        self._secret = secret
        self._ttl = ttl
        self._keys = [_fingerprint(k) for k in dict.fromkeys([*api_keys, *trusted_keys])]
        self._trusted = frozenset(_fingerprint(k) for k in trusted_keys)
        self._users = users  # cached in front of the store (hub.core.stores.fronted)
        self.passwords = Passwords()

    def issue(self, user_id: str) -> str:
        claims = {"id": user_id, "exp": int(time.time()) + self._ttl}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def user_id_of(self, token: str) -> str:
        """The `id` claim of a valid token; raises 401 for anything else (alg:none included)."""
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=["HS256"], options={"require": ["exp", "id"]}
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "Your session has expired. Sign in again.") from None
        except jwt.InvalidTokenError:
            raise ApiError(401, "The token is invalid. Sign in again.") from None
        user_id = claims.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise ApiError(401, "The token is invalid. Sign in again.")
        return user_id

    def is_api_key(self, value: str) -> bytes | None:
        """The key's fingerprint if `value` is a configured key (constant time over all keys)."""
        probe = _fingerprint(value)
        found = None
        for key in self._keys:
            if hmac.compare_digest(probe, key):
                found = key
        return found

    def identify(self, token: str) -> Credential:
        """What `token` is: one of the API keys, or a valid sign-in token (its user id).
        Raises `ApiError(401)` for anything else."""
        key = self.is_api_key(token)
        if key is not None:
            return Credential(key=key, trusted=key in self._trusted)
        return Credential(user_id=self.user_id_of(token))

    async def user_of(self, request: Request[Any, Any, Any], *, allow_api_key: bool) -> User:
        """The authenticated hub user of `request`, or `ApiError(401)` (403: forged by cookie)."""
        return (await self.caller_of(request, allow_api_key=allow_api_key)).user

    async def caller_of(self, request: Request[Any, Any, Any], *, allow_api_key: bool) -> Caller:
        """Who sent `request`: its hub user, whether by API key, and for a trusted key the
        person it names (who is then the user) and their chat."""
        token = _credential(request)
        if token is None:
            raise ApiError(401, "Not authenticated. Send 'Authorization: Bearer <token>'.")
        if _by_cookie(request) and not _sent_by_script(request):
            raise ApiError(
                403,
                "A request signed in by cookie that changes something must be sent with "
                "'Content-Type: application/json' or an 'X-Requested-With' header.",
            )
        credential = _checked(request) or self.identify(token)
        if credential.key is None:
            assert credential.user_id is not None
            found = await self._users.get(credential.user_id)
            if found is None:
                raise ApiError(401, "This account no longer exists. Sign up again.")
            note_caller(user_id=found.id)
            _refuse_disabled(found)
            return Caller(found)
        if not allow_api_key:
            raise ApiError(401, "API keys work on /ollama routes only; sign in for this one.")
        key_id = _key_id(credential.key)
        key_user = await self._key_user(credential.key)
        note_caller(user_id=key_user.id, key_fingerprint=key_id)
        # Cached for seconds only, and dropped at once when this process disables the user.
        _refuse_disabled(key_user)
        person = forwarded_person(request) if credential.trusted else None
        if person is None:
            return Caller(key_user, service=True)
        user = await person_user(self._users, key_user, key_id, person)
        note_caller(user_id=user.id, key_fingerprint=key_id, person=True)
        _refuse_disabled(user)
        return Caller(user, service=True, chat_id=person.chat_id)

    async def _key_user(self, key: bytes) -> User:
        ident = PlatformUser(API_KEY_PLATFORM, _key_id(key), f"API key {key.hex()[:8]}")
        return await self._users.for_identity(ident)


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential the hub accepts: an API key (by fingerprint) or a sign-in token's user."""

    key: bytes | None = None
    trusted: bool = False
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent an `/ollama` request: the hub user limits and usage count (the person behind
    a trusted key, else the key's or the token's own user), whether it came with an API key
    (a service: it may wait for a reply slot), and the Open WebUI chat it belongs to."""

    user: User
    service: bool = False
    chat_id: str | None = None


def _refuse_disabled(user: User) -> None:
    if user.disabled:
        raise ApiError(401, DISABLED)


def _checked(request: Request[Any, Any, Any]) -> Credential | None:
    """The credential `reject_bad_credentials` already identified for this request, if any."""
    found = request.scope.get("state", {}).get(_CHECKED_KEY)
    return found if isinstance(found, Credential) else None


def _key_id(fingerprint: bytes) -> str:
    """How an API key is known (its hub identity, `chathub users`, the request log)."""
    return fingerprint.hex()[:16]


def _credential(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    cookie = request.cookies.get("token")
    return cookie or None


def _by_cookie(request: Request[Any, Any, Any]) -> bool:
    return not request.headers.get("authorization")


def _sent_by_script(request: Request[Any, Any, Any]) -> bool:
    """Whether a browser could only have sent `request` from a page of the hub's own origin."""
    if request.method in _SAFE_METHODS or CSRF_HEADER in request.headers:
        return True
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    return media_type == "application/json"


def services_of(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


async def authenticator(request: Request[Any, Any, Any]) -> Authenticator:
    """The app's Authenticator, built on first use (its secret may need file I/O)."""
    return await app_authenticator(request.app)


async def app_authenticator(app: Litestar) -> Authenticator:
    state = app.state
    auth: Authenticator | None = state.get(_STATE_KEY)
    if auth is not None:
        return auth
    services: Services = state.services
    settings = services.settings
    secret = await asyncio.to_thread(load_jwt_secret, settings)
    auth = state.get(_STATE_KEY)  # another request may have finished first
    if auth is None:
        auth = Authenticator(
            secret=secret,
            ttl=settings.webui.token_ttl,
            api_keys=settings.static_api_keys(),
            trusted_keys=settings.trusted_keys(),
            users=services.stores.users,
        )
        state[_STATE_KEY] = auth
    return auth


def _require_active(user: User) -> User:
    if user.role == "pending":
        raise ApiError(403, "Your account is waiting for an administrator's approval.")
    return user


# Litestar dependency providers (`Provide(...)` on the routers).


async def webui_user(request: Request[Any, Any, Any]) -> User:
    """A signed-in user (JWT only), any role."""
    return await (await authenticator(request)).user_of(request, allow_api_key=False)


async def webui_active_user(request: Request[Any, Any, Any]) -> User:
    """A signed-in `user` or `admin` (JWT only)."""
    return _require_active(await webui_user(request))


async def webui_admin(request: Request[Any, Any, Any]) -> User:
    user = await webui_user(request)
    if user.role != "admin":
        raise ApiError(403, "Only an administrator can change this.")
    return user


async def ollama_user(request: Request[Any, Any, Any]) -> User:
    """A signed-in user or a static API key, not pending."""
    return (await ollama_caller(request)).user


async def ollama_caller(request: Request[Any, Any, Any]) -> Caller:
    """A signed-in user, an API key, or the person a trusted key names; not pending."""
    auth = await authenticator(request)
    caller = await auth.caller_of(request, allow_api_key=True)
    _require_active(caller.user)
    return caller


async def reject_bad_credentials(request: Request[Any, Any, Any]) -> None:
    """`before_request` hook of the API routers: an `Authorization` header the hub does not
    accept is a 401, even where no sign-in is needed (`/ollama/api/version`, `/api/config`).

    Only the header counts: a browser sends its `token` cookie with every request, and a
    stale one must not break the public pages. What the header was found to be is kept for
    the route's own check, so a token is decoded once per request.
    """
    header = request.headers.get("authorization")
    if header is None:
        return
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "The Authorization header must be 'Bearer <token or API key>'.")
    auth = await authenticator(request)
    try:
        credential = auth.identify(value.strip())
    except ApiError as exc:
        if _could_be_key(value.strip()):
            raise ApiError(401, "The API key or token is not valid for this hub.") from None
        raise exc from None
    request.scope.setdefault("state", {})[_CHECKED_KEY] = credential


def _could_be_key(token: str) -> bool:
    """A token that is no JWT at all (no two dots): most likely a mistyped API key."""
    return token.count(".") != 2
