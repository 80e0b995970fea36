"""API docs that work with no network, and the page at `/` when no frontend is configured."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

import yaml

from hub.api.home import _bots
from hub.connectors.plugin import discover_plugins
from hub.runtime import Services
from hub.settings import settings_class
from tests.api.conftest import Hub

_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]|url\(\s*['"]?([^'")]+)""")


def _without_spec(html: str) -> str:
    """The page less the inlined OpenAPI document (route descriptions are not loaded)."""
    start = html.index("spec: ") + len("spec: ")
    end = html.index(", dom_id:")
    json.loads(html[start:end].replace("<\\/", "</"))  # it is the document, whole
    return html[:start] + html[end:]


async def test_swagger_ui_uses_only_the_hubs_own_assets(hub: Hub) -> None:
    async with hub.client() as http:
        for page in ("/schema", "/schema/swagger"):
            response = await http.get(page)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/html")
            html = _without_spec(response.text)
            assert "http:" not in html and "https:" not in html and "//" not in html
            assert "validatorUrl: null" in html
            references = {a or b for a, b in _REFERENCE.findall(html)}
            assert len(references) >= 4, references
            for reference in references:
                assert reference.startswith("/schema/assets/"), reference
                asset = await http.get(reference)
                assert asset.status_code == 200, reference
                assert len(asset.content) > 0
        css = await http.get("/schema/assets/swagger-ui.css")
        assert css.headers["content-type"].startswith("text/css")
        # The stylesheet loads nothing either: no fonts, no imports, no remote images.
        assert "@import" not in css.text and "@font-face" not in css.text
        assert not [u for u in re.findall(r"url\(([^)]*)\)", css.text) if "data:" not in u]
        js = await http.get("/schema/assets/swagger-ui-bundle.js")
        assert js.headers["content-type"].startswith("text/javascript")


async def test_only_the_pages_assets_are_served(hub: Hub) -> None:
    async with hub.client() as http:
        for name in ("index.html", "swagger-editor-bundle.js", "..%2F__init__.py", "LICENSE"):
            missing = await http.get(f"/schema/assets/{name}")
            assert missing.status_code == 404, name
            assert "detail" in missing.json()


async def test_openapi_document_is_titled_chathub_with_its_version(hub: Hub) -> None:
    version = importlib.metadata.version("chathub")
    async with hub.client() as http:
        document = (await http.get("/schema/openapi.json")).json()
        as_yaml = yaml.safe_load((await http.get("/schema/openapi.yaml")).text)
    assert (document["info"]["title"], document["info"]["version"]) == ("chathub", version)
    assert as_yaml["info"] == document["info"]
    assert "/api/v1/users" in document["paths"] and "/ollama/api/chat" in document["paths"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "/schema/assets/{name}" not in document["paths"] and "/" not in document["paths"]


async def test_home_page_says_what_runs_and_how_to_connect(hub: Hub) -> None:
    async with hub.client() as http:
        page = await http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert f"chathub {importlib.metadata.version('chathub')}" in text
    assert "SQLite at " in text and "in-memory limiter" in text
    assert "backend ollama" in text and "answering, 5 models" in text
    for link in ("/schema", "/ready", "/health", "/metrics"):
        assert f'href="{link}"' in text
    assert f"OLLAMA_BASE_URL={hub.url}/ollama" in text
    assert f'host="{hub.url}/ollama"' in text and f'base_url="{hub.url}/ollama/v1"' in text
    # These settings have no connector plugins (`chathub serve` loads the installed ones), and
    # the page names no platform that is not installed.
    assert "No chat connector is installed." in text
    assert "Telegram" not in text and "Discord" not in text and "Slack" not in text
    assert "test-secret" not in text and "sk-hub-test" not in text


def test_home_page_tells_how_to_turn_each_installed_bot_on(tmp_path: Path) -> None:
    plugins = discover_plugins()
    hub_settings = settings_class(plugins)
    off = Services(hub_settings(_env_file=None, data_dir=tmp_path), None, None, None)  # type: ignore[arg-type]
    bots = _bots(off)
    assert ("Telegram", "off: set HUB_TELEGRAM__TOKEN (see docs/telegram.md)") in bots
    slack = "off: set HUB_SLACK__BOT_TOKEN and HUB_SLACK__APP_TOKEN (see docs/slack.md)"
    assert ("Slack", slack) in bots
    # Every installed plugin with settings, and nothing else (the console has none).
    assert len(bots) == sum(1 for p in plugins if p.settings_model is not None)
    on = hub_settings(_env_file=None, data_dir=tmp_path, telegram={"token": "123:abc"})
    running = Services(on, None, None, None, extras={"connectors": {"telegram": object()}})  # type: ignore[arg-type]
    assert ("Telegram", "running") in _bots(running)
    stopped = Services(on, None, None, None)  # type: ignore[arg-type]
    assert ("Telegram", "configured but not running: see /ready") in _bots(stopped)


def test_home_page_lists_a_third_party_connector_by_its_name(tmp_path: Path) -> None:
    from tests.plugins.echo_connector import plugin as echo

    hub_settings = settings_class([echo])
    off = Services(hub_settings(_env_file=None, data_dir=tmp_path), None, None, None)  # type: ignore[arg-type]
    assert _bots(off) == [("Echo", "off: see its settings, HUB_ECHO__*")]
