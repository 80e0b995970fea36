"""`chathub users list|show|approve|role|disable|enable|delete`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from hub.admin.lookup import MIN_PREFIX, find_user, label
from hub.admin.session import AdminError
from hub.admin.tables import render_table
from hub.core.models import Identity, User, UserRole
from hub.core.ports import Stores, UserStore


def _status(user: User) -> str:
    return "disabled" if user.disabled else "active"


def _as_json(user: User, identities: list[Identity]) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "disabled": user.disabled,
        "model": user.model,
        "identities": [str(i) for i in identities],
        "created_at": user.created_at.isoformat(),
    }


async def _linked(users: UserStore) -> dict[str, list[Identity]]:
    linked: dict[str, list[Identity]] = {}
    for identity in await users.identities():
        linked.setdefault(identity.user_id, []).append(identity)
    return linked


async def list_users(stores: Stores, args: argparse.Namespace) -> int:
    everyone = [u for u in await stores.users.all() if args.role in (None, u.role)]
    linked = await _linked(stores.users)
    if args.json:
        print(json.dumps([_as_json(u, linked.get(u.id, [])) for u in everyone], indent=2))
        return 0
    rows = [
        [
            u.id[:MIN_PREFIX],
            u.name,
            u.email or "-",
            u.role,
            _status(u),
            ", ".join(str(i) for i in linked.get(u.id, [])) or "-",
            u.created_at.strftime("%Y-%m-%d"),
        ]
        for u in everyone
    ]
    if not rows:
        print("No users yet." if args.role is None else f"No users with the role {args.role}.")
        return 0
    headers = ["ID", "NAME", "EMAIL", "ROLE", "STATUS", "IDENTITIES", "CREATED"]
    print(render_table(headers, rows))
    print(f"{len(rows)} user{'s' if len(rows) != 1 else ''}")
    return 0


async def show_user(stores: Stores, args: argparse.Namespace) -> int:
    user = await find_user(stores.users, args.user)
    identities = await stores.users.identities(user.id)
    today = datetime.now(UTC).date()
    first = (today - timedelta(days=6)).isoformat()
    usage = await stores.usage.between(first, today.isoformat(), user_id=user.id)
    requests = sum(u.requests for u in usage)
    tokens = sum(u.total_tokens for u in usage)
    if args.json:
        body = _as_json(user, identities)
        body["usage_7_days"] = {"requests": requests, "tokens": tokens}
        print(json.dumps(body, indent=2))
        return 0
    facts = [
        ("id", user.id),
        ("name", user.name),
        ("email", user.email or "-"),
        ("role", user.role),
        ("status", _status(user)),
        ("model", user.model or "(defaults)"),
        ("identities", ", ".join(str(i) for i in identities) or "-"),
        ("created", user.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("last 7 days", f"{requests} requests, {tokens} tokens"),
    ]
    width = max(len(name) for name, _ in facts)
    for name, value in facts:
        print(f"{name.ljust(width)}  {value}")
    return 0


async def _only_admin(users: UserStore, user: User) -> bool:
    if user.role != "admin" or user.disabled:
        return False
    return not any(
        u.role == "admin" and not u.disabled and u.id != user.id for u in await users.all()
    )


async def _keep_an_admin(users: UserStore, user: User, what: str, name: str) -> None:
    if await _only_admin(users, user):
        raise AdminError(
            f"{name} is the only administrator, so they cannot be {what}; make someone else "
            "admin first (chathub users role USER admin)"
        )


async def _named(stores: Stores, user: User) -> str:
    return f"{user.name} ({label(user, await stores.users.identities(user.id))})"


async def approve_user(stores: Stores, args: argparse.Namespace) -> int:
    user = await find_user(stores.users, args.user)
    name = await _named(stores, user)
    if user.role != "pending":
        print(f"{name} is already approved (role {user.role}).")
        return 0
    await stores.users.set_role(user.id, "user")
    print(f"Approved {name}: role user.")
    return 0


async def set_role(stores: Stores, args: argparse.Namespace) -> int:
    user = await find_user(stores.users, args.user)
    name = await _named(stores, user)
    role = cast(UserRole, args.role)
    if user.role == role:
        print(f"{name} already has the role {role}.")
        return 0
    if role != "admin":
        await _keep_an_admin(stores.users, user, f"made {role}", name)
    await stores.users.set_role(user.id, role)
    print(f"{name}: role {user.role} → {role}.")
    return 0


async def set_disabled(stores: Stores, args: argparse.Namespace) -> int:
    user = await find_user(stores.users, args.user)
    name = await _named(stores, user)
    disable = args.action == "disable"
    if user.disabled == disable:
        print(f"{name} is already {'disabled' if disable else 'enabled'}.")
        return 0
    if disable:
        await _keep_an_admin(stores.users, user, "disabled", name)
    await stores.users.set_disabled(user.id, disable)
    if disable:
        print(f"Disabled {name}: refused everywhere (running hubs within 5 s).")
    else:
        print(f"Enabled {name}.")
    return 0


async def delete_user(stores: Stores, args: argparse.Namespace) -> int:
    user = await find_user(stores.users, args.user)
    name = await _named(stores, user)
    await _keep_an_admin(stores.users, user, "deleted", name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise AdminError(f"add --yes to delete {name} without being asked")
        question = f"Delete {name} with their conversations, chats and personal prompts? [y/N] "
        answer = await asyncio.to_thread(input, question)
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 0
    await stores.users.delete(user.id)
    print(f"Deleted {name}.")
    return 0


ACTIONS = {
    "list": list_users,
    "show": show_user,
    "approve": approve_user,
    "role": set_role,
    "disable": set_disabled,
    "enable": set_disabled,
    "delete": delete_user,
}
