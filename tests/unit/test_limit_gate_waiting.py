"""PolicyLimitGate for service clients and embeddings (issue 18): `admit(wait=True)` waits for a
reply slot (woken by a release in this process, asking again for one in another), bounded by
`concurrent_wait`; `admit_embedding` charges the token budget and the model's rate only."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.core.limits.config import LimitsConfig
from hub.core.limits.gate import PolicyLimitGate
from hub.core.limits.memory import MemoryRateLimiter
from hub.core.models import User

ALICE = User(id="alice", name="Alice")


def gate(limiter: MemoryRateLimiter | None = None, **values: Any) -> PolicyLimitGate:
    return PolicyLimitGate(LimitsConfig.model_validate(values), limiter or MemoryRateLimiter())


async def test_a_waiting_service_request_gets_the_slot_a_release_frees() -> None:
    limits = gate(concurrent_per_user=1, concurrent_wait=60)
    reply = await limits.admit(ALICE, "http", "c", "m")
    assert reply.allowed and reply.lease_id
    title = asyncio.create_task(limits.admit(ALICE, "http", "c", "m", wait=True))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not title.done()  # waiting, not refused
    await limits.release(ALICE, reply)
    admitted = await asyncio.wait_for(title, 5)
    assert admitted.allowed and admitted.lease_id


async def test_a_release_in_another_process_is_seen_by_asking_again() -> None:
    shared = MemoryRateLimiter()  # the Redis two workers share, as the memory twin
    worker_a = gate(shared, concurrent_per_user=1, concurrent_wait=30)
    worker_b = gate(shared, concurrent_per_user=1, concurrent_wait=30)
    reply = await worker_a.admit(ALICE, "http", "c", "m")
    title = asyncio.create_task(worker_b.admit(ALICE, "http", "c", "m", wait=True))
    await asyncio.sleep(0.05)
    await worker_a.release(ALICE, reply)  # worker B is not told
    assert (await asyncio.wait_for(title, 5)).allowed


async def test_the_wait_is_bounded_and_charges_nothing_while_waiting() -> None:
    limits = gate(concurrent_per_user=1, concurrent_wait=0.05, per_user="2/minute")
    reply = await limits.admit(ALICE, "http", "c", "m")
    late = await limits.admit(ALICE, "http", "c", "m", wait=True)
    assert not late.allowed and late.scope == "concurrency"
    assert late.message.startswith("You already have 1 reply running")
    await limits.release(ALICE, reply)
    second = await limits.admit(ALICE, "http", "c", "m")
    assert second.allowed  # the wait cost no rate
    await limits.release(ALICE, second)
    third = await limits.admit(ALICE, "http", "c", "m")
    assert not third.allowed and third.scope == "user"


async def test_without_wait_or_for_other_refusals_nothing_waits() -> None:
    limits = gate(concurrent_per_user=1, concurrent_wait=60, per_user="1/minute")
    first = await limits.admit(ALICE, "http", "c", "m")
    assert first.allowed
    await limits.release(ALICE, first)
    refused = await asyncio.wait_for(limits.admit(ALICE, "http", "c", "m", wait=True), 1)
    assert refused.scope == "user"  # a rate refusal is answered at once, wait or not


async def test_embeddings_count_against_the_budget_and_the_models_rate_only() -> None:
    limits = gate(
        per_user="1/minute",
        concurrent_per_user=1,
        tokens_per_day=100,
        per_model={"bge-m3": "2/minute"},
    )
    reply = await limits.admit(ALICE, "http", "c", "llama")
    assert reply.allowed
    assert (await limits.admit_embedding(ALICE, "nomic-embed-text")).allowed  # no slot, no rate
    assert (await limits.admit_embedding(ALICE, "bge-m3")).allowed
    assert (await limits.admit_embedding(ALICE, "bge-m3:latest")).allowed
    model_rate = await limits.admit_embedding(ALICE, "bge-m3")
    assert not model_rate.allowed and model_rate.scope == "model"
    await limits.record_usage(ALICE, "nomic-embed-text", 100, 0)
    budget = await limits.admit_embedding(ALICE, "nomic-embed-text")
    assert not budget.allowed and budget.scope == "tokens"
    admin = User(id="root", name="Root", role="admin")
    assert (await limits.admit_embedding(admin, "bge-m3")).allowed  # admins are unlimited
