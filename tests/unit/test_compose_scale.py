"""docker-compose.scale.yml as documented in docs/scaling.md: three identical hub replicas
behind nginx, a three-member MongoDB replica set made by its init, Redis; parsed and checked,
and the hub's own settings loader run on what each replica would get."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from hub.settings import load_settings
from tests.unit.test_compose import REFERENCE, interpolate, readme_dotenv

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.scale.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
HUBS = ["hub-1", "hub-2", "hub-3"]
MONGOS = ["mongo-1", "mongo-2", "mongo-3"]


def mounted(service: str, target: str) -> Path:
    for volume in SERVICES[service]["volumes"]:
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            assert rest.endswith(":ro"), volume
            return ROOT / source
    raise AssertionError(f"{service} mounts nothing at {target}")


def test_three_identical_hub_replicas_on_one_redis_and_one_replica_set() -> None:
    hubs = [SERVICES[name] for name in HUBS]
    assert all(hub == hubs[0] for hub in hubs)  # the same hub, three times
    env = hubs[0]["environment"]
    url = urlsplit(env["HUB_MONGODB_URL"])
    assert sorted(url.netloc.split(",")) == [f"{m}:27017" for m in MONGOS]
    assert parse_qs(url.query)["replicaSet"] == ["rs0"]
    assert env["HUB_REDIS_URL"] == "redis://redis:6379/0"
    assert ":?" in env["HUB_JWT_SECRET"]  # required: every replica must share it
    assert "HUB_DATA_DIR" not in env and not any("hub-data" in v for v in hubs[0]["volumes"])


def test_every_service_is_checked_and_waits_for_what_it_needs() -> None:
    for name, service in SERVICES.items():
        if name == "mongo-init":  # one-shot: the hubs wait for it to complete
            assert service["restart"] == "no"
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for needed, condition in service.get("depends_on", {}).items():
            wanted = (
                "service_completed_successfully" if needed == "mongo-init" else "service_healthy"
            )
            assert condition == {"condition": wanted}, (name, needed)
    assert set(SERVICES["hub-1"]["depends_on"]) == {"mongo-init", "redis", "ollama"}
    assert set(SERVICES["nginx"]["depends_on"]) == set(HUBS)
    ready = " ".join(SERVICES["hub-1"]["healthcheck"]["test"])
    assert "/ready" in ready


def test_the_mongo_members_and_their_init_name_the_same_replica_set() -> None:
    for name in MONGOS:
        command = SERVICES[name]["command"]
        assert command[command.index("--replSet") + 1] == "rs0"
    init = SERVICES["mongo-init"]
    assert set(init["depends_on"]) == set(MONGOS)
    script = mounted("mongo-init", "/deploy/mongo-init.js").read_text(encoding="utf-8")
    assert "rs.initiate" in script and '_id: "rs0"' in script
    assert sorted(re.findall(r'host: "(mongo-\d):27017"', script)) == MONGOS
    assert "/deploy/mongo-init.js" in init["command"]


def test_nginx_spreads_requests_over_the_replicas_and_streams() -> None:
    conf = mounted("nginx", "/etc/nginx/nginx.conf").read_text(encoding="utf-8")
    upstream = conf[conf.index("upstream chathub") :]
    upstream = upstream[: upstream.index("}")]
    assert sorted(re.findall(r"server (hub-\d):8000", upstream)) == HUBS
    for directive in ("proxy_buffering off", "proxy_http_version 1.1", "proxy_read_timeout"):
        assert directive in conf
    assert SERVICES["nginx"]["ports"] == ["8000:80"]


def test_each_replica_starts_on_the_readme_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = readme_dotenv()
    env = SERVICES["hub-1"]["environment"]
    required = {
        m[0] for value in env.values() for m in REFERENCE.findall(str(value)) if m[1].endswith("?")
    }
    assert required <= set(dotenv), f"README's .env lacks {required - set(dotenv)}"
    for name in [n for n in os.environ if n.startswith("HUB_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, interpolate(str(value), dotenv))
    monkeypatch.setenv("HUB_CONFIG", str(mounted("hub-1", "/etc/chathub/chathub.yaml")))
    monkeypatch.chdir(ROOT / "tests")
    settings = load_settings()
    assert settings.redis_url is not None and settings.mongodb_url is not None
    assert settings.jobs.callback_secret is None  # empty: callbacks refused, jobs still work


def test_the_kubernetes_deployment_probes_health_and_ready() -> None:
    documents = list(
        yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text(encoding="utf-8"))
    )
    kinds = {d["kind"]: d for d in documents}
    assert set(kinds) == {"Deployment", "Service"}
    spec = kinds["Deployment"]["spec"]
    assert spec["replicas"] >= 2
    pod = spec["template"]["spec"]
    [hub] = pod["containers"]
    assert hub["livenessProbe"]["httpGet"]["path"] == "/health"
    assert hub["startupProbe"]["httpGet"]["path"] == "/health"
    assert hub["readinessProbe"]["httpGet"]["path"] == "/ready"
    names = {e["name"] for e in hub["env"]}
    assert {"HUB_REDIS_URL", "HUB_MONGODB_URL", "HUB_JWT_SECRET"} <= names
    assert pod["terminationGracePeriodSeconds"] > 10  # beyond chat.shutdown_grace
    assert kinds["Service"]["spec"]["selector"] == spec["selector"]["matchLabels"]
