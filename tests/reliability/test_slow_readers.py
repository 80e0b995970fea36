"""Backpressure: slow HTTP readers slow the reading from the backend, not the hub's memory.

Reproduced first: with the reply channel unbounded, 4 readers taking ~1 KB/s of a 2M-token
stream grew the hub by hundreds of MB (the whole reply was buffered); the issue saw 97 → 365 MB.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.slow_readers import measure

MB = 1024 * 1024


async def test_four_slow_readers_of_a_2m_token_stream_keep_rss_within_20_mb(
    tmp_path: Path,
) -> None:
    figures = await asyncio.to_thread(measure, tmp_path, readers=4, tokens=2_000_000, seconds=6)
    assert len(figures.samples) >= 10
    assert all(n > 0 for n in figures.flowing_at), figures.flowing_at  # every stream flowed
    assert all(n > m for n, m in zip(figures.bytes_read, figures.flowing_at, strict=True))
    assert figures.growth < 20 * MB, (figures.idle_rss, figures.peak_rss)
