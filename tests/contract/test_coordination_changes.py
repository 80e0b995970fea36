"""Changes made on one replica reach the others' caches and menus at once, over the change
feed: users dropped from the cache, prompt-command menus refreshed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.core.models import PlatformUser, Prompt
from hub.core.prompts import PromptService
from hub.core.stores.fronted import FrontedStores
from hub.core.stores.sqlite import open_sqlite
from tests.contract.coordination_kit import Replicas
from tests.unit.router_doubles import eventually


async def test_a_role_change_drops_the_user_from_every_cache(
    replicas: Replicas, tmp_path: Path
) -> None:
    inner = await open_sqlite(tmp_path / "data")
    one, two = FrontedStores(inner), FrontedStores(inner)  # two replicas, one store
    try:
        await replicas.feed(wire=one.follow)
        await replicas.feed(wire=two.follow)
        who = PlatformUser("telegram", "7", "Ada")
        user = await two.users.for_identity(who)  # now cached on `two`
        await one.users.set_role(user.id, "admin")
        await eventually(lambda: two.users._by_id.get(user.id) is None)  # type: ignore[attr-defined]
        assert (await two.users.for_identity(who)).role == "admin"
    finally:
        await inner.aclose()


async def test_a_prompt_change_runs_the_other_replicas_menu_hooks(
    replicas: Replicas, tmp_path: Path
) -> None:
    inner = await open_sqlite(tmp_path / "data")
    one, two = PromptService(inner.prompts), PromptService(inner.prompts)
    refreshed: list[str] = []

    async def menu_hook() -> None:
        refreshed.append("menu")

    two.on_change.append(menu_hook)
    try:
        await replicas.feed(wire=one.follow)
        await replicas.feed(wire=two.follow)
        admin_prompt = Prompt("/sum", "Summary", "Summarize: {{INPUT}}", "admin-1", "global")
        await one.seed([admin_prompt], "admin-1")
        await eventually(lambda: refreshed == ["menu"])
        await asyncio.sleep(0.05)
        assert refreshed == ["menu"]
    finally:
        await inner.aclose()
