"""Slow readers: the hub's RSS while readers take a long streamed reply at ~1 KB/s. Issue 17.

Run from the repository root:
    .venv/bin/python benchmarks/slow_readers.py [--readers 4] [--tokens 2000000]
        [--seconds 20] [--baseline /path/to/other/checkout]

`chathub serve` (its own process, embedded defaults) in front of the fake Ollama (its own
process, unpaced); after one warm-up request, `--readers` clients each ask /ollama/api/chat for
the `--tokens`-token reply over a socket with a 4 KB receive buffer and read 1 KB a second. The
target: peak RSS within 20 MB of the idle RSS measured just before. With `--baseline`, another
checkout is measured the same way in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.slow_readers import measure  # noqa: E402

MB = 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=2_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--baseline", default="", help="another checkout of the hub to compare")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    targets = [("this checkout", ROOT)]
    if args.baseline:
        targets.append((f"baseline {args.baseline}", Path(args.baseline)))
    for name, root in targets:
        with tempfile.TemporaryDirectory() as tmp:
            f = measure(
                Path(tmp), readers=args.readers, tokens=args.tokens, seconds=args.seconds, root=root
            )
        print(
            f"{name}: idle {f.idle_rss / MB:.1f} MB, peak {f.peak_rss / MB:.1f} MB, "
            f"growth {f.growth / MB:+.1f} MB (target < 20), "
            f"bytes read per reader {f.bytes_read}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
