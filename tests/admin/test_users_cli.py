"""`chathub users …` on SQLite and on the MongoDB-wire server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.core.models import PlatformUser, User
from hub.core.ports import Stores
from tests.admin.conftest import Cli

ROOT_ID = "0a1b2c3d-root-0000-0000-000000000000"


def _people(cli: Cli) -> dict[str, str]:
    """An admin, a pending web account, a Telegram user and a Slack user; their ids."""

    async def make(stores: Stores) -> dict[str, str]:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        root = User(ROOT_ID, "Root", "admin", "root@example.com", created_at=start)
        bob = User("b0b-0000", "Bob", "pending", "bob@example.com")
        await stores.users.create(root)
        await stores.users.create(bob)
        tg = await stores.users.for_identity(PlatformUser("telegram", "12345", "Tess"))
        slack = await stores.users.for_identity(PlatformUser("slack", "U77", "Sam"))
        return {"root": root.id, "bob": bob.id, "tg": tg.id, "slack": slack.id}

    return cli.store(make)


def _user(cli: Cli, user_id: str) -> User:
    async def get(stores: Stores) -> User:
        found = await stores.users.get(user_id)
        assert found is not None
        return found

    return cli.store(get)


def test_list_shows_every_user_as_a_table_and_as_json(cli: Cli) -> None:
    code, out, err = cli("users", "list")
    assert (code, err) == (0, "") and "No users yet." in out
    ids = _people(cli)
    code, out, _ = cli("users", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "EMAIL", "ROLE", "STATUS", "IDENTITIES", "CREATED"]
    assert lines[1].startswith(ROOT_ID[:8]) and "root@example.com" in lines[1]
    assert any("telegram:12345" in line and "Tess" in line for line in lines)
    assert lines[-1] == "4 users"
    code, out, _ = cli("users", "list", "--role", "pending", "--json")
    listed = json.loads(out)
    assert [u["id"] for u in listed] == [ids["bob"]]
    assert listed[0]["email"] == "bob@example.com" and listed[0]["disabled"] is False


def test_show_by_email_id_prefix_and_platform_id(cli: Cli) -> None:
    ids = _people(cli)

    async def used(stores: Stores) -> None:
        today = datetime.now(UTC).date()
        for days_ago, tokens in ((0, 10), (3, 20), (9, 1000)):
            day = (today - timedelta(days=days_ago)).isoformat()
            await stores.usage.add(
                ids["tg"], "alpha", day, prompt_tokens=tokens, completion_tokens=0
            )

    cli.store(used)
    for ref in ("telegram:12345", ids["tg"], ids["tg"][:8]):
        code, out, _ = cli("users", "show", ref)
        assert code == 0, ref
        assert "Tess" in out and "telegram:12345" in out and "2 requests, 30 tokens" in out
    code, out, _ = cli("users", "show", "ROOT@example.com", "--json")
    shown = json.loads(out)
    assert (shown["id"], shown["role"], shown["usage_7_days"]) == (
        ROOT_ID,
        "admin",
        {"requests": 0, "tokens": 0},
    )


def test_unknown_users_are_named_with_exit_code_2(cli: Cli) -> None:
    _people(cli)
    for args in (
        ("users", "show", "nobody@example.com"),
        ("users", "approve", "telegram:999"),
        ("users", "role", "ghost-id", "admin"),
        ("users", "disable", "0a1b"),  # too short to be an id prefix
        ("users", "delete", "nobody@example.com", "--yes"),
    ):
        code, out, err = cli(*args)
        assert code == 2, args
        assert out == ""
        assert err.startswith("chathub: there is no user ") and len(err.splitlines()) == 1


def test_approve_a_pending_account(cli: Cli) -> None:
    ids = _people(cli)
    code, out, _ = cli("users", "approve", "bob@example.com")
    assert code == 0 and out.strip() == "Approved Bob (bob@example.com): role user."
    assert _user(cli, ids["bob"]).role == "user"
    code, out, _ = cli("users", "approve", "bob@example.com")
    assert code == 0 and "already approved (role user)" in out


def test_promote_a_bot_user_by_platform_id_and_keep_one_admin(cli: Cli) -> None:
    ids = _people(cli)
    code, out, _ = cli("users", "role", "telegram:12345", "admin")
    assert code == 0 and "role user → admin" in out
    assert _user(cli, ids["tg"]).role == "admin"
    code, _, _ = cli("users", "role", "root@example.com", "user")
    assert code == 0
    # Now the Telegram user is the only admin: they cannot be demoted, disabled or deleted.
    for args in (
        ("users", "role", "telegram:12345", "pending"),
        ("users", "disable", "telegram:12345"),
        ("users", "delete", "telegram:12345", "--yes"),
    ):
        code, _, err = cli(*args)
        assert code == 2 and "only administrator" in err, args
    assert _user(cli, ids["tg"]).role == "admin"
    code, _, err = cli("users", "role", "bob@example.com", "owner")
    assert code == 2 and "invalid choice" in err


def test_disable_and_enable(cli: Cli) -> None:
    ids = _people(cli)
    code, out, _ = cli("users", "disable", "slack:U77")
    assert code == 0 and out.startswith("Disabled Sam (slack:U77)")
    assert _user(cli, ids["slack"]).disabled
    code, out, _ = cli("users", "list")
    assert any("slack:U77" in line and "disabled" in line for line in out.splitlines())
    code, out, _ = cli("users", "enable", "slack:U77")
    assert code == 0 and not _user(cli, ids["slack"]).disabled


def test_delete_asks_for_yes_when_not_interactive(cli: Cli) -> None:
    ids = _people(cli)
    code, _, err = cli("users", "delete", "bob@example.com")
    assert code == 2 and "--yes" in err
    assert _user(cli, ids["bob"]).id == ids["bob"]
    code, out, _ = cli("users", "delete", "bob@example.com", "--yes")
    assert code == 0 and out.strip() == "Deleted Bob (bob@example.com)."

    async def gone(stores: Stores) -> bool:
        return await stores.users.get(ids["bob"]) is None

    assert cli.store(gone)


def test_store_down_is_exit_code_1(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_MONGODB_URL", "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300")
    code, out, err = cli("users", "list")
    assert code == 1 and out == ""
    assert err.startswith("chathub: MongoDB is not reachable") and len(err.splitlines()) == 1
