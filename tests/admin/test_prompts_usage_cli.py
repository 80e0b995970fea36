"""`chathub prompts …` and `chathub usage` on SQLite and on the MongoDB-wire server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.core.models import PlatformUser, User
from hub.core.ports import Stores
from tests.admin.conftest import Cli

OPEN_WEBUI_EXPORT = [
    {
        "command": "/summarize",
        "user_id": "d0c7e5a2-0000-0000-0000-000000000000",
        "title": "Summarize",
        "content": "Summarize this:\n\n{{CLIPBOARD}}",
        "timestamp": 1714000000,
    },
    {"command": "/translate", "title": "Translate", "content": "Translate to French: {{prompt}}"},
]


def _ann(cli: Cli) -> str:
    async def make(stores: Stores) -> str:
        return (await stores.users.create(User("ann-0000-id", "Ann", email="ann@example.com"))).id

    return cli.store(make)


def test_add_list_and_remove_global_prompts(cli: Cli) -> None:
    code, out, _ = cli("prompts", "add", "/sum", "--title", "Sum it", "--content", "Sum: {{x}}")
    assert code == 0 and out.strip() == "Added global prompt /sum (Sum it)."
    code, out, _ = cli("prompts", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["COMMAND", "SCOPE", "TITLE", "UPDATED"]
    assert lines[1].split()[:4] == ["/sum", "global", "Sum", "it"]
    code, _, err = cli("prompts", "add", "sum", "--content", "again")
    assert code == 2 and "already exists" in err
    code, _, err = cli("prompts", "add", "/help", "--content", "x")
    assert code == 2 and "built-in" in err
    code, _, err = cli("prompts", "add", "/Bad Name", "--content", "x")
    assert code == 2 and err.startswith("chathub: Command names use")
    code, out, _ = cli("prompts", "rm", "/sum")
    assert code == 0 and "Removed global prompt /sum" in out
    code, _, err = cli("prompts", "rm", "/sum")
    assert code == 2 and "there is no global prompt /sum" in err


def test_personal_prompts_of_a_user(cli: Cli, tmp_path: Path) -> None:
    _ann(cli)
    template = tmp_path / "t.txt"
    template.write_text("Mine: {{CLIPBOARD}}", encoding="utf-8")
    code, _, _ = cli(
        "prompts", "add", "/mine", "--file", str(template), "--user", "ann@example.com"
    )
    assert code == 0
    cli("prompts", "add", "/shared", "--content", "for all")
    code, out, _ = cli("prompts", "list", "--user", "ann@example.com", "--json")
    seen = {p["command"]: p for p in json.loads(out)}
    assert set(seen) == {"/mine", "/shared"}
    assert (seen["/mine"]["scope"], seen["/mine"]["user_id"]) == ("personal", "ann-0000-id")
    assert seen["/mine"]["content"] == "Mine: {{CLIPBOARD}}"
    code, out, _ = cli("prompts", "list")
    assert "/mine" not in out and "/shared" in out
    code, _, err = cli("prompts", "list", "--user", "telegram:1")
    assert code == 2 and "there is no user" in err


def test_import_open_webui_json_then_export_it(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "prompts.json"
    source.write_text(json.dumps(OPEN_WEBUI_EXPORT), encoding="utf-8")
    code, out, _ = cli("prompts", "import", str(source))
    assert code == 0
    assert out.strip() == "Imported 2 global prompts: 2 created, 0 replaced, 0 skipped."
    changed = [{**OPEN_WEBUI_EXPORT[0], "content": "Shorter: {{CLIPBOARD}}"}]
    source.write_text(json.dumps(changed), encoding="utf-8")
    code, out, _ = cli("prompts", "import", str(source))
    assert code == 0 and "1 skipped (they exist; add --replace to overwrite)" in out
    code, out, _ = cli("prompts", "import", str(source), "--replace")
    assert code == 0 and "1 replaced" in out
    target = tmp_path / "out.json"
    code, _, _ = cli("prompts", "export", "--output", str(target))
    exported = json.loads(target.read_text(encoding="utf-8"))
    assert [p["command"] for p in exported] == ["/summarize", "/translate"]
    assert exported[0]["content"] == "Shorter: {{CLIPBOARD}}"
    assert set(exported[0]) == {"command", "user_id", "title", "content", "timestamp"}
    assert isinstance(exported[0]["timestamp"], int)
    code, out, _ = cli("prompts", "export")
    assert json.loads(out) == exported


def test_a_bad_import_file_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    cases = {
        "{not json": "not valid JSON (line 1",
        json.dumps({"prompts": []}): 'needs a "command"',
        json.dumps("text"): "must hold a list of prompts",
        json.dumps([OPEN_WEBUI_EXPORT[0], {"command": "/x y", "content": "c"}]): "prompt 2",
        json.dumps([OPEN_WEBUI_EXPORT[0], OPEN_WEBUI_EXPORT[0]]): "appears twice",
        json.dumps([{"command": "/empty", "content": "  "}]): "is empty",
    }
    for text, problem in cases.items():
        bad.write_text(text, encoding="utf-8")
        code, out, err = cli("prompts", "import", str(bad))
        assert (code, out) == (2, ""), text
        assert problem in err and len(err.splitlines()) == 1, err
    code, _, err = cli("prompts", "import", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err
    code, out, _ = cli("prompts", "export")
    assert json.loads(out) == []


def test_usage_per_user_model_and_day(cli: Cli) -> None:
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=n)).isoformat() for n in range(10)]

    async def used(stores: Stores) -> None:
        ann = await stores.users.create(User("ann-0000-id", "Ann", email="ann@example.com"))
        tess = await stores.users.for_identity(PlatformUser("telegram", "12345", "Tess"))
        for user, model, day, tokens in (
            (ann.id, "alpha", days[0], 10),
            (ann.id, "alpha", days[0], 5),
            (ann.id, "beta", days[1], 7),
            (tess.id, "alpha", days[1], 3),
            (tess.id, "alpha", days[9], 1000),  # older than 7 days
        ):
            await stores.usage.add(user, model, day, prompt_tokens=tokens, completion_tokens=1)

    cli.store(used)
    code, out, _ = cli("usage")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "DAY", "USER", "MODEL", "REQUESTS", "PROMPT", "COMPLETION", "TOKENS",
    ]  # fmt: skip
    rows = [line.split() for line in lines[1:-1]]
    assert rows == [
        [days[1], "ann@example.com", "beta", "1", "7", "1", "8"],
        [days[1], "telegram:12345", "alpha", "1", "3", "1", "4"],
        [days[0], "ann@example.com", "alpha", "2", "15", "2", "17"],
        ["total", "4", "25", "4", "29"],
    ]
    assert lines[-1] == f"{days[6]} to {days[0]} (UTC)"
    code, out, _ = cli("usage", "--by", "user", "--days", "10", "--json")
    per_user = {u["user"]: u for u in json.loads(out)}
    assert per_user["telegram:12345"]["total_tokens"] == 1005
    assert per_user["ann@example.com"]["requests"] == 3
    assert set(per_user["ann@example.com"]) == {
        "user_id", "user", "requests", "prompt_tokens", "completion_tokens", "total_tokens",
    }  # fmt: skip
    code, out, _ = cli("usage", "--user", "ann@example.com", "--model", "alpha", "--by", "model")
    assert [line.split() for line in out.splitlines()[1:-1]] == [
        ["alpha", "2", "15", "2", "17"],
        ["total", "2", "15", "2", "17"],
    ]
    code, out, _ = cli("usage", "--model", "gamma")
    assert code == 0 and out.startswith("No usage from ")
    code, _, err = cli("usage", "--days", "0")
    assert code == 2 and "1 or more days" in err
