"""`/api/v1/jobs` on one hub (SQLite, the embedded queue): submit, poll, cancel, callbacks,
limits at submission, expiry, and jobs surviving a restart."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.api.conftest import API_KEY, Hub
from tests.fakes.ollama import FakeOllama
from tests.fakes.ollama_wire import numbered_tokens

SECRET = "callback-secret-0123456789"


def chat_job(model: str = "alpha:latest", **extra: Any) -> dict[str, Any]:
    request = {"model": model, "messages": [{"role": "user", "content": "count"}]}
    return {"request": request, **extra}


async def finished(hub: Hub, job_id: str, token: str = API_KEY) -> dict[str, Any]:
    async with hub.client(token) as http:
        for _ in range(1000):
            view: dict[str, Any] = (await http.get(f"/api/v1/jobs/{job_id}")).json()
            if view["status"] in ("done", "failed", "cancelled"):
                return view
            await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never finished")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    await got.start()
    yield got
    await got.stop()


class Receiver:
    """A callback receiver that answers the scripted statuses, then 200."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _take(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/done", self._take)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/done"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def test_a_job_is_answered_in_the_ollama_shape(make_hub: Any, fake: FakeOllama) -> None:
    async with make_hub(fake) as hub, hub.client(API_KEY) as http:
        accepted = await http.post("/api/v1/jobs", json=chat_job())
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        assert body["status"] == "queued" and body["position"] >= 0
        assert accepted.headers["Location"] == f"/api/v1/jobs/{body['id']}" == body["url"]
        view = await finished(hub, body["id"])
    text = "".join(numbered_tokens(5))
    assert view["status"] == "done" and view["text"] == text and view["position"] is None
    assert view["result"]["message"] == {"role": "assistant", "content": text}
    assert view["result"]["done"] is True and view["expires_at"]


async def test_a_job_in_the_openai_shape(make_hub: Any, fake: FakeOllama) -> None:
    async with make_hub(fake) as hub, hub.client(API_KEY) as http:
        accepted = await http.post("/api/v1/jobs", json=chat_job(api="openai"))
        view = await finished(hub, accepted.json()["id"])
    assert view["result"]["object"] == "chat.completion"
    assert view["result"]["choices"][0]["message"]["content"] == "".join(numbered_tokens(5))


async def test_positions_cancel_and_partial_text(make_hub: Any, fake: FakeOllama) -> None:
    async with make_hub(fake, jobs={"workers": 1}) as hub, hub.client(API_KEY) as http:
        slow = (await http.post("/api/v1/jobs", json=chat_job("slow:latest"))).json()
        waiting = (await http.post("/api/v1/jobs", json=chat_job())).json()
        for _ in range(1000):  # the slow one is being answered: the other waits behind it
            view = (await http.get(f"/api/v1/jobs/{slow['id']}")).json()
            if view["status"] == "running" and view["text"]:
                break
            await asyncio.sleep(0.02)
        assert (await http.get(f"/api/v1/jobs/{waiting['id']}")).json()["position"] == 0
        cancelled = await http.delete(f"/api/v1/jobs/{slow['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        done = await finished(hub, waiting["id"])
        stopped = await finished(hub, slow["id"])
        again = await http.delete(f"/api/v1/jobs/{slow['id']}")
    assert done["status"] == "done"
    assert stopped["status"] == "cancelled" and stopped["text"].startswith("t0 t1")
    assert again.status_code == 409
    assert any(r.outcome == "client_closed" for r in fake.chat_requests)


async def test_bad_jobs_are_refused_with_a_detail(make_hub: Any, fake: FakeOllama) -> None:
    async with make_hub(fake) as hub, hub.client(API_KEY) as http:
        typo = await http.post("/api/v1/jobs", json={"request": {"model": 3, "messages": []}})
        empty = await http.post("/api/v1/jobs", json={"request": {"model": "alpha:latest"}})
        unknown = await http.post("/api/v1/jobs", json=chat_job("nope:1b"))
        callback = await http.post("/api/v1/jobs", json=chat_job(callback_url="http://x/y"))
        missing = await http.get("/api/v1/jobs/no-such-job")
        await hub.signup("Ann")  # the first web account: an admin, who may see every job
        token, _ = await hub.signup("Eve")
        mine = (await http.post("/api/v1/jobs", json=chat_job())).json()["id"]
        async with hub.client(token) as eve:
            theirs = await eve.get(f"/api/v1/jobs/{mine}")
        async with hub.client() as anonymous:
            nobody = await anonymous.post("/api/v1/jobs", json=chat_job())
    assert typo.status_code == 400 and "request" in typo.json()["detail"]
    assert empty.status_code == 400 and "messages" in empty.json()["detail"]
    assert unknown.status_code == 404 and "nope:1b" in unknown.json()["detail"]
    assert callback.status_code == 400
    assert "HUB_JOBS__CALLBACK_SECRET" in callback.json()["detail"]
    assert missing.status_code == 404 and theirs.status_code == 404
    assert nobody.status_code == 401


async def test_limits_apply_at_submission(make_hub: Any, fake: FakeOllama) -> None:
    limits = {"per_user": "1/minute", "roles": {"admin": "unlimited"}}
    async with make_hub(fake, limits=limits) as hub, hub.client(API_KEY) as http:
        first = await http.post("/api/v1/jobs", json=chat_job())
        second = await http.post("/api/v1/jobs", json=chat_job())
        view = await finished(hub, first.json()["id"])
    assert first.status_code == 202 and view["status"] == "done"  # not charged twice
    assert second.status_code == 429 and int(second.headers["Retry-After"]) > 0


async def test_the_callback_is_signed_and_retried(
    make_hub: Any, fake: FakeOllama, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    jobs = {"callback_secret": SECRET, "callback_attempts": 4}
    async with make_hub(fake, jobs=jobs) as hub, hub.client(API_KEY) as http:
        accepted = await http.post("/api/v1/jobs", json=chat_job(callback_url=receiver.url))
        job_id = accepted.json()["id"]
        view = await finished(hub, job_id)
        for _ in range(1000):
            view = (await http.get(f"/api/v1/jobs/{job_id}")).json()
            if (view["callback"] or {}).get("delivered"):
                break
            await asyncio.sleep(0.02)
    assert len(receiver.calls) == 3
    assert view["callback"] == {"url": receiver.url, "delivered": True, "attempts": 3,
                                "status": 200, "error": ""}  # fmt: skip
    headers, body = receiver.calls[-1]
    stamp = headers["X-Chathub-Timestamp"]
    mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Chathub-Signature"] == f"sha256={mac}"
    assert headers["X-Chathub-Job"] == job_id
    sent = json.loads(body)
    assert sent["id"] == job_id and sent["status"] == "done" and sent["result"]["done"]


async def test_results_expire(make_hub: Any, fake: FakeOllama) -> None:
    async with make_hub(fake, jobs={"result_ttl": 0.5}) as hub, hub.client(API_KEY) as http:
        job_id = (await http.post("/api/v1/jobs", json=chat_job())).json()["id"]
        await finished(hub, job_id)
        for _ in range(500):
            if (await http.get(f"/api/v1/jobs/{job_id}")).status_code == 404:
                break
            await asyncio.sleep(0.01)
        gone = await http.get(f"/api/v1/jobs/{job_id}")
    assert gone.status_code == 404


async def test_queued_jobs_survive_a_restart(make_hub: Any, fake: FakeOllama) -> None:
    async with make_hub(fake, jobs={"workers": 0}) as hub, hub.client(API_KEY) as http:
        job_id = (await http.post("/api/v1/jobs", json=chat_job())).json()["id"]
        assert (await http.get(f"/api/v1/jobs/{job_id}")).json()["status"] == "queued"
    async with make_hub(fake) as hub:  # the same data dir
        view = await finished(hub, job_id)
    assert view["status"] == "done"
