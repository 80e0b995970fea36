"""Open WebUI account routes: sign-up, sign-in, the current user, and changing one's own
profile and password.

The first web account becomes `admin`; later ones get the default role (`user`, or `pending`
when an admin should approve new accounts: `webui.default_role`, or what an admin chose in
Open WebUI's settings, `hub/api/webui_signup.py`). Sign-up and sign-in answer with the whole
user object plus its token, which the frontend keeps as its user.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from hub.api.auth import DISABLED, Authenticator, authenticator, services_of
from hub.api.errors import ApiError
from hub.api.webui_signup import default_role, signup_enabled
from hub.core.models import User
from hub.core.ports import DuplicateError

log = logging.getLogger(__name__)

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


class ProfileBody(msgspec.Struct, kw_only=True):
    name: str
    profile_image_url: str = ""


class PasswordBody(msgspec.Struct, kw_only=True):
    password: str
    new_password: str


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


def checked_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise ApiError(400, "Enter a valid e-mail address, like name@example.com.")
    return email


def checked_password(password: str) -> str:
    if not password:
        raise ApiError(400, "Enter a password.")
    if len(password) > _MAX_PASSWORD:
        raise ApiError(400, f"Passwords can be at most {_MAX_PASSWORD} characters long.")
    return password


def _checked_signup(data: JSONBody[SignupBody]) -> tuple[str, str]:
    name = data.name.strip()
    if not name:
        raise ApiError(400, "Enter a name for the account.")
    email = checked_email(data.email)
    checked_password(data.password)
    return name, email


@post("/signup", status_code=200)
async def signup(request: Request[Any, Any, Any], data: JSONBody[SignupBody]) -> dict[str, Any]:
    """Create an account and sign it in; the first web account becomes the admin."""
    name, email = _checked_signup(data)
    services = services_of(request)
    users, settings_store = services.stores.users, services.stores.settings
    if not await signup_enabled(settings_store):
        raise ApiError(403, "New accounts are turned off on this hub; ask an administrator.")
    auth = await authenticator(request)
    taken = ApiError(400, "This e-mail address already has an account. Sign in instead.")
    if await users.get_by_email(email) is not None:
        raise taken
    user = User(
        id=str(uuid.uuid4()),
        name=name,
        role=await default_role(request),
        email=email,
        password_hash=await auth.passwords.hash(data.password),
        profile_image_url=data.profile_image_url or DEFAULT_AVATAR,
    )
    try:
        user = await users.create(user)
    except DuplicateError:
        raise taken from None
    # Bot users and API-key principals are users too, so "first" means first web account. The
    # claim is one atomic write: of any number of sign-ups on any number of hubs, one wins.
    if await settings_store.get(FIRST_ACCOUNT_SETTING) is None and await settings_store.put_new(
        FIRST_ACCOUNT_SETTING, user.id
    ):
        await users.set_role(user.id, "admin")
        user = await users.get(user.id) or user
        log.info("first account made admin", extra={"user_id": user.id})
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
    if user.disabled:
        raise ApiError(403, DISABLED)
    return session_body(auth, user)


@get("/")
async def current_user(user: NamedDependency[User]) -> dict[str, Any]:
    """The signed-in user (pending users too: the frontend shows them a waiting page)."""
    return user_body(user)


@post("/update/profile", status_code=200)
async def update_profile(
    request: Request[Any, Any, Any], data: JSONBody[ProfileBody], user: NamedDependency[User]
) -> dict[str, Any]:
    """Change one's own name and picture (never the role)."""
    name = data.name.strip()
    if not name:
        raise ApiError(400, "Enter a name for the account.")
    users = services_of(request).stores.users
    updated = await users.update_profile(
        user.id, name=name, profile_image_url=data.profile_image_url or None
    )
    if updated is None:
        raise ApiError(401, "This account no longer exists. Sign up again.")
    return user_body(updated)


@post("/update/password", status_code=200)
async def update_password(
    request: Request[Any, Any, Any], data: JSONBody[PasswordBody], user: NamedDependency[User]
) -> bool:
    """Change one's own password, given the current one."""
    passwords = (await authenticator(request)).passwords
    users = services_of(request).stores.users
    # The stored hash, not the cached user's: another replica may have changed it just now.
    stored = await users.get_by_email(user.email) if user.email else None
    if stored is None or not await passwords.verify(stored.password_hash, data.password):
        raise ApiError(400, "The current password is wrong. Check it and try again.")
    new_hash = await passwords.hash(checked_password(data.new_password))
    return await users.set_password(user.id, new_hash)
