"""The job store's contract, on SQLite and on the MongoDB-wire server: records, attempts that
fence a worker that was taken over, cancellation, expiry."""

from __future__ import annotations

from datetime import timedelta

from hub.core.ports import Job, JobEnd, Stores
from hub.core.stores.common import now_utc


def a_job(job_id: str = "j1", **extra: object) -> Job:
    now = now_utc()
    request = {"model": "m", "messages": [{"role": "user", "content": "hi", "$ref": "#/x"}]}
    fields: dict[str, object] = {
        "id": job_id,
        "owner": "u1",
        "api": "ollama",
        "model": "m",
        "request": request,
        "created_at": now,
        "updated_at": now,
        "callback_url": "http://receiver.invalid/done",
    }
    fields.update(extra)
    return Job(**fields)  # type: ignore[arg-type]


async def test_a_job_is_stored_as_given(stores: Stores) -> None:
    job = a_job()
    await stores.jobs.create(job)
    found = await stores.jobs.get("j1")
    assert found == job
    assert await stores.jobs.get("nope") is None


async def test_a_takeover_fences_the_first_worker(stores: Stores) -> None:
    await stores.jobs.create(a_job())
    now = now_utc()
    first = await stores.jobs.claim("j1", "replica-a", now)
    assert first is not None and first.status == "running" and first.attempt == 1
    assert await stores.jobs.progress("j1", 1, "Hel", 2, now)
    assert (await stores.jobs.get("j1")).position == 2  # type: ignore[union-attr]
    second = await stores.jobs.claim("j1", "replica-b", now)  # replica-a went silent
    assert second is not None and second.attempt == 2 and second.text == ""
    later = now + timedelta(days=1)
    assert not await stores.jobs.progress("j1", 1, "Hello", None, now)
    assert not await stores.jobs.finish("j1", 1, JobEnd("done", "stale"), now, later)
    assert await stores.jobs.finish("j1", 2, JobEnd("done", "Hi", {"done": True}), now, later)
    assert not await stores.jobs.finish("j1", 2, JobEnd("done", "twice"), now, later)
    done = await stores.jobs.get("j1")
    assert done is not None
    assert (done.status, done.text, done.result, done.worker) == (
        "done",
        "Hi",
        {"done": True},
        "replica-b",
    )
    assert await stores.jobs.claim("j1", "replica-c", now) is None  # finished: not runnable


async def test_a_cancelled_job_is_not_run(stores: Stores) -> None:
    await stores.jobs.create(a_job())
    now = now_utc()
    cancelled = await stores.jobs.cancel("j1", now, now + timedelta(hours=1))
    assert cancelled is not None and cancelled.status == "cancelled"
    assert await stores.jobs.claim("j1", "replica-a", now) is None
    again = await stores.jobs.cancel("j1", now, now + timedelta(hours=1))
    assert again is not None and again.status == "cancelled"
    assert await stores.jobs.cancel("nope", now, now) is None


async def test_a_running_job_cancelled_refuses_its_workers_writes(stores: Stores) -> None:
    await stores.jobs.create(a_job())
    now = now_utc()
    assert await stores.jobs.claim("j1", "replica-a", now) is not None
    await stores.jobs.cancel("j1", now, now + timedelta(hours=1))
    assert not await stores.jobs.progress("j1", 1, "Hel", None, now)
    assert not await stores.jobs.finish("j1", 1, JobEnd("done"), now, now)


async def test_unfinished_jobs_oldest_first_and_expired_ones_swept(stores: Stores) -> None:
    base = now_utc()
    for i, name in enumerate(("old", "mid", "new")):
        moment = base + timedelta(seconds=i)
        await stores.jobs.create(a_job(name, created_at=moment, updated_at=moment))
    await stores.jobs.claim("mid", "replica-a", base)
    past = base - timedelta(seconds=1)
    await stores.jobs.finish("mid", 1, JobEnd("done", "x"), base, past)  # already expired
    assert [j.id for j in await stores.jobs.unfinished()] == ["old", "new"]
    assert await stores.jobs.get("mid") is None  # expired: gone for readers at once
    assert await stores.jobs.sweep(base) >= 0
    assert await stores.jobs.get("mid") is None
    await stores.jobs.set_callback("old", {"delivered": True, "attempts": 1})
    old = await stores.jobs.get("old")
    assert old is not None and old.callback == {"delivered": True, "attempts": 1}
