"""The dashboard's page weight: every file it ships (zerodown/api/dashboard/), as sent
(the controller does not compress) and gzipped for reference. Budget: 300 KB in all.

    .venv/bin/python benchmarks/dashboard_weight.py
"""

from __future__ import annotations

import gzip
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[1] / "zerodown" / "api" / "dashboard"
BUDGET = 300 * 1024


def main() -> int:
    files = sorted(p for p in DASHBOARD.rglob("*") if p.is_file())
    total = zipped = 0
    print(f"{'file':<18} {'bytes':>8} {'gzip':>8}")
    for path in files:
        data = path.read_bytes()
        size, small = len(data), len(gzip.compress(data, 9))
        total, zipped = total + size, zipped + small
        print(f"{path.name:<18} {size:>8} {small:>8}")
    print(f"{'total':<18} {total:>8} {zipped:>8}")
    verdict = "PASS" if total <= BUDGET else "FAIL"
    print(f"{verdict}: {total / 1024:.1f} KB of {BUDGET // 1024} KB ({100 * total / BUDGET:.0f}% of the budget)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
