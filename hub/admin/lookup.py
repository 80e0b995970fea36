"""Finding the user an admin means: by id (or a unique prefix of it), e-mail or platform:id."""

from __future__ import annotations

from hub.admin.session import AdminError
from hub.core.models import Identity, User
from hub.core.ports import UserStore

MIN_PREFIX = 8  # the short id `chathub users list` shows


def _unknown(ref: str) -> AdminError:
    return AdminError(
        f"there is no user {ref!r}; name one by id, e-mail or platform:id (e.g. "
        "telegram:12345), as `chathub users list` shows them"
    )


async def find_user(users: UserStore, ref: str) -> User:
    """The one user `ref` names; `AdminError` when none or several match."""
    ref = ref.strip()
    if not ref:
        raise AdminError("name a user by id, e-mail or platform:id")
    if "@" in ref:
        found = await users.get_by_email(ref)
        if found is None:
            raise _unknown(ref)
        return found
    exact = await users.get(ref)
    if exact is not None:
        return exact
    platform, sep, platform_id = ref.partition(":")
    if sep and platform and platform_id:
        found = await users.find_identity(platform, platform_id)
        if found is None:
            raise _unknown(ref)
        return found
    if len(ref) >= MIN_PREFIX:
        matches = [u for u in await users.all() if u.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(u.id for u in matches[:5])
            raise AdminError(f"{ref!r} matches several users ({ids}); give more of the id")
    raise _unknown(ref)


def label(user: User, identities: list[Identity]) -> str:
    """How the admin commands name a user: e-mail, else platform:id, else the short id."""
    if user.email:
        return user.email
    if identities:
        return str(identities[0])
    return user.id[:MIN_PREFIX]
