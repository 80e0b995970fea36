"""Serving a built frontend from HUB_WEBUI_DIR with SPA fallback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.api.conftest import API_KEY
from tests.fakes.ollama import FakeOllama

INDEX = b"<!doctype html><title>app</title>"


def _build(root: Path) -> Path:
    (root / "_app" / "immutable" / "entry").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "_app" / "immutable" / "entry" / "start.js").write_text("export {};")
    (root / "themes").mkdir()
    (root / "themes" / "rosepine.css").write_text("body{}")
    (root / "favicon.png").write_bytes(b"\x89PNG\r\n")
    (root / "manifest.json").write_text("")
    (root.parent / "secret.txt").write_text("outside")
    return root


async def test_spa_files_and_fallback(
    make_hub: Callable[..., Any], fake: FakeOllama, tmp_path: Path
) -> None:
    site = _build(tmp_path / "site" / "build")
    async with make_hub(fake, webui_dir=site) as hub, hub.client() as http:
        for path in ("/", "/auth", "/auth/", "/c/0b1e", "/prompts/create", "/error"):
            page = await http.get(path)
            assert (page.status_code, page.content) == (200, INDEX), path
            assert page.headers["content-type"].startswith("text/html")
        js = await http.get("/_app/immutable/entry/start.js")
        assert js.headers["content-type"].startswith("text/javascript")
        assert "immutable" in js.headers["cache-control"]
        css = await http.get("/themes/rosepine.css")
        assert css.headers["content-type"].startswith("text/css")
        assert (await http.get("/favicon.png")).content == b"\x89PNG\r\n"
        assert (await http.get("/manifest.json")).status_code == 200
        escape = await http.get("/..%2Fsecret.txt")
        assert b"outside" not in escape.content
        api = await http.get("/api/v1/nothing")
        assert api.status_code == 404 and "detail" in api.json()
        native = await http.get(
            "/ollama/api/nothing", headers={"Authorization": f"Bearer {API_KEY}"}
        )
        assert native.status_code == 404 and "error" in native.json()
        assert (await http.get("/api/config")).json()["version"] == "0.1.120"
        assert (await http.get("/ollama/")).text == "Ollama is running"
        assert (await http.get("/schema/openapi.json")).status_code == 200
