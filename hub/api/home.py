"""The page at `/` when no frontend is configured (`HUB_WEBUI_DIR` unset): what is running,
and how to connect each kind of client, with this hub's own address filled in."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from litestar import Request, get
from litestar.response import Response

from hub.api.docs import hub_version

if TYPE_CHECKING:
    from hub.runtime import Services

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#222}code,pre{background:#f3f3f3;border-radius:4px;padding:.1em .3em}"
    "pre{padding:.6em;overflow-x:auto}.up{color:#17723a}.down{color:#b3261e}"
    "td{padding:.1em 1em .1em 0;vertical-align:top}"
)


def _running(services: Services) -> list[tuple[str, str, bool]]:
    """(what, detail, ok) for the store, the limiter and each backend."""
    rows = [
        ("store", services.stores.description, True),
        ("limiter", str(services.extras.get("limiter_description", "")), True),
    ]
    router: Any = services.router  # status() is the concrete router's, as /metrics uses it
    for status in router.status() if hasattr(router, "status") else []:
        models = "" if status.models is None else f", {status.models} models"
        detail = ("answering" if status.up else "not answering") + models
        rows.append((f"backend {status.name}", detail, status.up))
    return rows


def _bots(services: Services) -> list[tuple[str, str]]:
    """Each installed connector plugin with settings: running, configured but not running, or
    off (and what turns it on: the plugin's optional `title` and `setup`)."""
    settings = services.settings
    running = services.extras.get("connectors", {})
    out = []
    for plugin in type(settings).plugins:
        if plugin.settings_model is None:
            continue  # nothing to configure (the console): not a bot this page can turn on
        name = plugin.name
        title = str(getattr(plugin, "title", "") or name.capitalize())
        if name in running:
            state = "running"
        elif plugin.enabled(settings.section(name)):
            state = "configured but not running: see /ready"
        else:
            setup = getattr(plugin, "setup", "") or f"see its settings, HUB_{name.upper()}__*"
            state = f"off: {setup}"
        out.append((title, state))
    return out


def render_home(services: Services, base: str) -> str:
    """The page, for a hub reached at `base` (e.g. `http://hub:8000`)."""
    rows = "".join(
        f"<tr><td>{escape(what)}</td>"
        f"<td class='{'up' if ok else 'down'}'>{escape(detail)}</td></tr>"
        for what, detail, ok in _running(services)
    )
    bots = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(state)}</td></tr>"
        for name, state in _bots(services)
    )
    bots_table = f"<table>{bots}</table>" if bots else "<p>No chat connector is installed.</p>"
    b = escape(base)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>chathub</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style>
</head><body>
<h1>chathub {escape(hub_version())}</h1>
<p>This hub is running. <a href="/ready">/ready</a> says whether it can answer,
<a href="/health">/health</a> whether the process is alive, <a href="/metrics">/metrics</a>
serves Prometheus gauges, and <a href="/schema">/schema</a> documents every route
(<a href="/schema/openapi.json">OpenAPI JSON</a>).</p>
<table>{rows}</table>
<h2>Connect</h2>
<p><b>Open WebUI</b> (a current one, as its Ollama server): set
<code>OLLAMA_BASE_URL={b}/ollama</code> and give that connection a key from
<code>HUB_TRUSTED_API_KEYS</code> (Admin → Settings → Connections), with
<code>ENABLE_FORWARD_USER_INFO_HEADERS=true</code> so each of its users has their own limits
(docs/openwebui.md). To serve the Open WebUI v0.1.120
frontend from this hub instead, set <code>HUB_WEBUI_DIR</code> to its build directory.</p>
<p><b>An Ollama client</b>:</p>
<pre>import ollama
client = ollama.Client(host="{b}/ollama", headers={{"Authorization": "Bearer &lt;key&gt;"}})
client.chat(model="&lt;model&gt;", messages=[{{"role": "user", "content": "Hello"}}])</pre>
<p><b>An OpenAI client</b>: <code>OpenAI(base_url="{b}/ollama/v1", api_key="&lt;key&gt;")</code>,
or with curl:</p>
<pre>curl {b}/ollama/api/tags -H "Authorization: Bearer &lt;key&gt;"</pre>
<p>A person can sign up instead (<code>POST {b}/api/v1/auths/signup</code>; the first account
becomes the admin) and use the token it returns as the key.</p>
<h2>Bots</h2>
{bots_table}
<p>Administer users, prompts and usage on the server with <code>chathub users</code>,
<code>chathub prompts</code> and <code>chathub usage</code>.</p>
</body></html>"""


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any]) -> Response[str]:
    """What is running here and how to connect to it."""
    services: Services = request.app.state.services
    base = str(request.base_url).rstrip("/")
    return Response(render_home(services, base), media_type="text/html; charset=utf-8")
