"""The admin commands as an admin runs them: real `chathub` processes beside a serving hub."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.e2e.test_serve import hub_env, run_cli, start_serve, stop


def test_help_lists_the_admin_commands(tmp_path: Path) -> None:
    done = run_cli("--help", env=hub_env(tmp_path))
    assert done.returncode == 0
    for command in ("users", "prompts", "usage"):
        assert f"    {command} " in done.stdout
    users = run_cli("users", "--help", env=hub_env(tmp_path))
    for action in ("list", "show", "approve", "role", "disable", "enable", "delete"):
        assert action in users.stdout


def test_a_pending_account_approved_from_the_cli_can_chat(tmp_path: Path) -> None:
    env = hub_env(
        tmp_path,
        HUB_WEBUI__DEFAULT_ROLE="pending",
        HUB_OLLAMA_URL="http://127.0.0.1:9",
        HUB_LOG_LEVEL="WARNING",
    )
    served = start_serve(env)
    try:
        with httpx.Client(base_url=served.base, timeout=30) as http:
            for name in ("root", "bob"):
                body = {"name": name, "email": f"{name}@example.com", "password": "pw"}
                signed = http.post("/api/v1/auths/signup", json=body)
                assert signed.status_code == 200, signed.text
            bob = {"Authorization": f"Bearer {signed.json()['token']}"}
            assert signed.json()["role"] == "pending"
            assert http.get("/api/v1/chats/", headers=bob).status_code == 403
            approved = run_cli("users", "approve", "bob@example.com", env=env)
            assert approved.returncode == 0, approved.stderr
            assert approved.stdout.strip() == "Approved bob (bob@example.com): role user."
            # The serving hub caches users for 5 s; the approval shows within that.
            deadline = time.monotonic() + 15
            while http.get("/api/v1/chats/", headers=bob).status_code != 200:
                assert time.monotonic() < deadline, "the approval never reached the hub"
                time.sleep(0.2)
            listed = run_cli("users", "list", env=env)
            assert listed.returncode == 0
            roles = {line.split()[2]: line.split()[3] for line in listed.stdout.splitlines()[1:-1]}
            assert roles == {"root@example.com": "admin", "bob@example.com": "user"}
    finally:
        code, out = stop(served)
        assert code == 0, out
