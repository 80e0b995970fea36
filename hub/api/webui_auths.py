"""Open WebUI account routes: sign-up, sign-in, and the current user.

The first account becomes `admin`; later ones get `webui.default_role` (`user`, or `pending`
when an admin should approve new accounts). Sign-up and sign-in answer with the whole user
object plus its token, which the frontend keeps as its user.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from hub.api.auth import Authenticator, authenticator, services_of
from hub.api.errors import ApiError
from hub.core.models import User, UserRole
from hub.core.ports import DuplicateError

DEFAULT_AVATAR = "/user.png"
FIRST_ACCOUNT_SETTING = "webui.first_account"  # id of the first web account (made admin)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_MAX_PASSWORD = 1024


class SignupBody(msgspec.Struct, kw_only=True):
    name: str
    email: str
    password: str
    profile_image_url: str = DEFAULT_AVATAR


class SigninBody(msgspec.Struct, kw_only=True):
    email: str
    password: str


def user_body(user: NamedDependency[User]) -> dict[str, Any]:
    """The user as Open WebUI returns it."""
    return {
        "id": user.id,
        "email": user.email or "",
        "name": user.name,
        "role": user.role,
        "profile_image_url": user.profile_image_url or DEFAULT_AVATAR,
    }


def session_body(auth: Authenticator, user: NamedDependency[User]) -> dict[str, Any]:
    return {"token": auth.issue(user.id), "token_type": "Bearer", **user_body(user)}


def _checked_signup(data: JSONBody[SignupBody]) -> tuple[str, str]:
    name = data.name.strip()
    email = data.email.strip().lower()
    if not name:
        raise ApiError(400, "Enter a name for the account.")
    if not _EMAIL.match(email):
        raise ApiError(400, "Enter a valid e-mail address, like name@example.com.")
    if not data.password:
        raise ApiError(400, "Enter a password.")
    if len(data.password) > _MAX_PASSWORD:
        raise ApiError(400, f"Passwords can be at most {_MAX_PASSWORD} characters long.")
    return name, email


@post("/signup", status_code=200)
async def signup(request: Request[Any, Any, Any], data: JSONBody[SignupBody]) -> dict[str, Any]:
    """Create an account and sign it in."""
    name, email = _checked_signup(data)
    services = services_of(request)
    users = services.stores.users
    auth = await authenticator(request)
    taken = ApiError(400, "This e-mail address already has an account. Sign in instead.")
    if await users.get_by_email(email) is not None:
        raise taken
    password_hash = await auth.passwords.hash(data.password)
    settings_store = services.stores.settings
    async with auth.signup_lock:  # so two first sign-ups cannot both become admin
        # Bot users and API-key principals are users too, so "first" means first web account.
        first = await settings_store.get(FIRST_ACCOUNT_SETTING) is None
        role: UserRole = "admin" if first else services.settings.webui.default_role
        user = User(
            id=str(uuid.uuid4()),
            name=name,
            role=role,
            email=email,
            password_hash=password_hash,
            profile_image_url=data.profile_image_url or DEFAULT_AVATAR,
        )
        try:
            user = await users.create(user)
        except DuplicateError:
            raise taken from None
        if first:
            await settings_store.put(FIRST_ACCOUNT_SETTING, user.id)
    return session_body(auth, user)


@post("/signin", status_code=200)
async def signin(request: Request[Any, Any, Any], data: JSONBody[SigninBody]) -> dict[str, Any]:
    """Check e-mail and password; answer with the user and a fresh token."""
    users = services_of(request).stores.users
    auth = await authenticator(request)
    user = await users.get_by_email(data.email.strip().lower())
    stored = user.password_hash if user is not None else None
    if not await auth.passwords.verify(stored, data.password) or user is None:
        raise ApiError(400, "The e-mail or password is wrong. Check them and try again.")
    return session_body(auth, user)


@get("/")
async def current_user(user: NamedDependency[User]) -> dict[str, Any]:
    """The signed-in user (pending users too: the frontend shows them a waiting page)."""
    return user_body(user)
