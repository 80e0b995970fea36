"""`chathub prompts list|add|rm|export|import`: global prompts, or one user's with --user.

Files are Open WebUI's prompt JSON: a list of `{"command", "title", "content", "user_id",
"timestamp"}` (the last two are written on export and ignored on import). The same rules as
the chat's `/prompt` command apply (names, sizes, built-ins), through `PromptService`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from hub.admin.lookup import find_user
from hub.admin.session import AdminError
from hub.admin.tables import render_table
from hub.core.models import Prompt, PromptScope, User
from hub.core.ports import Stores
from hub.core.prompt_rules import PromptError, checked_text, normalize_command
from hub.core.prompts import PromptService, to_openwebui

# Global prompts made here are owned like the ones seeded from the config (hub.bootstrap).
CLI_ADMIN = User(id="system", name="chathub command line", role="admin")


async def _actor(stores: Stores, args: argparse.Namespace) -> tuple[User, PromptScope]:
    if args.user is None:
        return CLI_ADMIN, "global"
    return await find_user(stores.users, args.user), "personal"


def _refused(exc: PromptError) -> AdminError:
    return AdminError(exc.message)


async def _selected(service: PromptService, actor: User, scope: PromptScope) -> list[Prompt]:
    visible = await service.list_for(actor)
    return [p for p in visible if p.scope == scope]


async def list_prompts(stores: Stores, args: argparse.Namespace) -> int:
    service = PromptService(stores.prompts)
    actor, _ = await _actor(stores, args)
    prompts = await service.list_for(actor)  # a user's own and the global ones
    if args.user is None:
        prompts = [p for p in prompts if p.scope == "global"]
    if args.json:
        print(json.dumps([{**to_openwebui(p), "scope": p.scope} for p in prompts], indent=2))
        return 0
    rows = [[p.command, p.scope, p.title, p.updated_at.strftime("%Y-%m-%d")] for p in prompts]
    print(render_table(["COMMAND", "SCOPE", "TITLE", "UPDATED"], rows))
    print(f"{len(rows)} prompt{'s' if len(rows) != 1 else ''}")
    return 0


async def _read(path: str) -> str:
    try:
        if path == "-":
            return await asyncio.to_thread(sys.stdin.read)
        return await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    except OSError as exc:
        raise AdminError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AdminError(f"{path} is not UTF-8 text") from None


async def add_prompt(stores: Stores, args: argparse.Namespace) -> int:
    service = PromptService(stores.prompts)
    actor, scope = await _actor(stores, args)
    content = args.content if args.file is None else await _read(args.file)
    try:
        prompt = await service.create(actor, args.command, args.title, content, scope)
    except PromptError as exc:
        raise _refused(exc) from None
    print(f"Added {scope} prompt {prompt.command} ({prompt.title}).")
    return 0


async def remove_prompt(stores: Stores, args: argparse.Namespace) -> int:
    service = PromptService(stores.prompts)
    actor, scope = await _actor(stores, args)
    try:
        removed = await service.delete(actor, args.command, scope=scope)
    except PromptError as exc:
        raise _refused(exc) from None
    if not removed:
        where = "global prompt" if scope == "global" else f"personal prompt of {args.user}"
        raise AdminError(f"there is no {where} {args.command}; see `chathub prompts list`")
    print(f"Removed {scope} prompt {args.command}.")
    return 0


async def export_prompts(stores: Stores, args: argparse.Namespace) -> int:
    service = PromptService(stores.prompts)
    actor, scope = await _actor(stores, args)
    text = json.dumps([to_openwebui(p) for p in await _selected(service, actor, scope)], indent=2)
    if args.output is None:
        print(text)
        return 0
    try:
        await asyncio.to_thread(Path(args.output).write_text, text + "\n", encoding="utf-8")
    except OSError as exc:
        raise AdminError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    return 0


def _parse(text: str, source: str) -> list[tuple[str, str, str]]:
    """(command, title, content) of each prompt in the file, all checked before any is stored."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AdminError(f"{source} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise AdminError(f"{source} must hold a list of prompts, as Open WebUI exports them")
    parsed: list[tuple[str, str, str]] = []
    for index, item in enumerate(items):
        where = f"{source}, prompt {index + 1}"
        if not isinstance(item, dict) or not isinstance(item.get("command"), str):
            raise AdminError(f'{where}: needs a "command" and a "content"')
        title, content = item.get("title", ""), item.get("content")
        if not isinstance(content, str) or not isinstance(title, str):
            raise AdminError(f'{where} ({item["command"]}): "title" and "content" are text')
        try:
            key = normalize_command(item["command"])
            title, content = checked_text(key, title, content)
        except PromptError as exc:
            raise AdminError(f"{where} ({item['command']}): {exc.message}") from None
        if any(key == seen for seen, _, _ in parsed):
            raise AdminError(f"{where}: {key} appears twice in the file")
        parsed.append((key, title, content))
    return parsed


async def import_prompts(stores: Stores, args: argparse.Namespace) -> int:
    service = PromptService(stores.prompts)
    actor, scope = await _actor(stores, args)
    source = "stdin" if args.file == "-" else args.file
    items = _parse(await _read(args.file), source)
    created = replaced = skipped = 0
    try:
        for key, title, content in items:
            if await service.find(actor, key, scope) is None:
                await service.create(actor, key, title, content, scope)
                created += 1
            elif args.replace:
                await service.update(actor, key, title, content, scope=scope)
                replaced += 1
            else:
                skipped += 1
    except PromptError as exc:
        raise _refused(exc) from None
    note = " (they exist; add --replace to overwrite)" if skipped else ""
    print(
        f"Imported {len(items)} {scope} prompts: {created} created, {replaced} replaced, "
        f"{skipped} skipped{note}."
    )
    return 0


ACTIONS = {
    "list": list_prompts,
    "add": add_prompt,
    "rm": remove_prompt,
    "export": export_prompts,
    "import": import_prompts,
}
