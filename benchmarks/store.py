"""Store: append a turn and read the last 50 turns of a conversation (target p50 < 2 ms on SQLite).

Run from the repository root:
    .venv/bin/python benchmarks/store.py [--rounds 2000] [--mongo-rounds 300] [--mongodb-url URL]

Measures the embedded SQLite store, then the MongoDB store against an NX-27017 server it starts
on an ephemeral port (a MongoDB-wire EMULATOR on SQLite: its figure is not a MongoDB benchmark),
or against `--mongodb-url` (e.g. a real mongod). For MongoDB it also prints the `explain()` plan
of the recent-turns query and the indexes of `turns`, so the same code can be checked for an
index scan on a real mongod. Exits 1 when the SQLite p50 misses the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pymongo import DESCENDING, AsyncMongoClient

from hub.core.models import ConversationKey, Turn
from hub.core.ports import Stores
from hub.core.stores.mongo import MongoStores, open_mongo
from hub.core.stores.sqlite import open_sqlite

TARGET_P50_MS = 2.0
OTHER_CONVERSATIONS = 50
TURNS_EACH = 100
LAST = 50


def _text(i: int) -> str:
    return f"Turn {i}: " + "a plausible chat message of moderate length, " * 4


async def fill(stores: Stores) -> str:
    """Other conversations around, so the index (not a table scan) has to find the turns."""
    for c in range(OTHER_CONVERSATIONS):
        key = ConversationKey("bench", f"chat-{c}", "", f"user-{c}")
        conversation = await stores.conversations.active(key, f"user-{c}")
        for i in range(TURNS_EACH):
            await stores.conversations.append(conversation.id, Turn("user", _text(i)))
    key = ConversationKey("bench", "measured", "", "me")
    conversation = await stores.conversations.active(key, "me")
    for i in range(TURNS_EACH):
        await stores.conversations.append(conversation.id, Turn("user", _text(i)))
    return conversation.id


async def measure(stores: Stores, conversation_id: str, rounds: int) -> dict[str, float]:
    """Per round: append one turn, then read the last 50 (what every chat message does)."""
    both, appends, reads, cpu = [], [], [], []
    for i in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        role = "assistant" if i % 2 else "user"
        await stores.conversations.append(conversation_id, Turn(role, _text(i)))
        middle = time.perf_counter()
        turns = await stores.conversations.recent(conversation_id, LAST)
        end = time.perf_counter()
        assert len(turns) == LAST
        both.append((end - start) * 1000)
        appends.append((middle - start) * 1000)
        reads.append((end - middle) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    both.sort()
    return {
        "p50": statistics.median(both),
        "p99": both[int(len(both) * 0.99) - 1],
        "append_p50": statistics.median(appends),
        "recent_p50": statistics.median(reads),
        "cpu_p50": statistics.median(cpu),
    }


def report(label: str, result: dict[str, float], rounds: int) -> None:
    print(f"{label} ({rounds} rounds)")
    print(
        f"  append + recent(50): p50 {result['p50']:.3f} ms, p99 {result['p99']:.3f} ms "
        f"(append p50 {result['append_p50']:.3f} ms, recent p50 {result['recent_p50']:.3f} ms, "
        f"CPU p50 {result['cpu_p50']:.3f} ms)"
    )


async def bench_sqlite(rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        stores = await open_sqlite(Path(tmp))
        try:
            conversation_id = await fill(stores)
            result = await measure(stores, conversation_id, rounds)
            plan = await stores.db.fetchall(
                "EXPLAIN QUERY PLAN SELECT * FROM turns WHERE conversation_id = ? "
                "ORDER BY seq DESC LIMIT 50",
                (conversation_id,),
            )
            print("SQLite query plan of recent():", "; ".join(str(row[3]) for row in plan))
            return result
        finally:
            await stores.aclose()


async def explain(stores: MongoStores, conversation_id: str) -> None:
    # The same query `MongoConversations.recent` runs.
    turns = stores.db.collection("turns")
    cursor = turns.find({"conversation_id": conversation_id}).sort("seq", DESCENDING).limit(LAST)
    plan: dict[str, Any] = await cursor.explain()
    planner = plan.get("queryPlanner", {})
    build = await stores.db.client.admin.command("buildInfo")
    print(f"  server reports version {build.get('version')}")
    print("  explain() winning plan of the recent-turns query:")
    print("   ", json.dumps(planner.get("winningPlan"), default=str))
    print("  indexes of `turns`:")
    for name, spec in (await turns.index_information()).items():
        print(f"    {name}: {spec.get('key')} unique={spec.get('unique', False)}")


def start_emulator(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = Path(sys.executable).with_name("nx-27017")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [str(exe), "--db", "memory", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--log-file", str(workdir / "nx.log"), "--pid-file", str(workdir / "nx.pid")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"mongodb://127.0.0.1:{port}/?directConnection=true"


async def wait_ping(url: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, serverSelectionTimeoutMS=250
        )
        try:
            await client.admin.command("ping")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
        finally:
            await client.close()


async def bench_mongo(url: str, rounds: int) -> dict[str, float]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    stores = await open_mongo(url, name)
    try:
        conversation_id = await fill(stores)
        result = await measure(stores, conversation_id, rounds)
        await explain(stores, conversation_id)
        return result
    finally:
        await stores.db.client.drop_database(name)
        await stores.aclose()


async def main(rounds: int, mongo_rounds: int, mongodb_url: str | None) -> int:
    print(
        f"data: {OTHER_CONVERSATIONS} other conversations x {TURNS_EACH} turns, "
        f"measured conversation starts with {TURNS_EACH} turns; Python {sys.version.split()[0]}"
    )
    sqlite = await bench_sqlite(rounds)
    report("SQLite (embedded store, WAL, synchronous=NORMAL)", sqlite, rounds)
    if mongodb_url:
        given = await bench_mongo(mongodb_url, mongo_rounds)
        report("MongoDB at the given URL", given, mongo_rounds)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            proc, url = start_emulator(Path(tmp))
            try:
                await wait_ping(url)
                mongo = await bench_mongo(url, mongo_rounds)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        label = "NX-27017 0.8.1 — MongoDB-wire emulator, not a MongoDB benchmark"
        report(label, mongo, mongo_rounds)
    ok = sqlite["p50"] < TARGET_P50_MS
    print(f"target SQLite p50 < {TARGET_P50_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--mongo-rounds", type=int, default=300)
    parser.add_argument("--mongodb-url", default=None, help="benchmark this server instead")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.rounds, args.mongo_rounds, args.mongodb_url)))
