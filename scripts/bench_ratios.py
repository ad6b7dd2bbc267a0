#!/usr/bin/env python3
"""Prints the p50 figures of the last `cargo bench --bench overhead` run and the ratios of
the proxy to the direct call, all from that one run.

    python3 scripts/bench_ratios.py [CRITERION_DIR]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion, else target/criterion. The p50 is
criterion's median estimate (the median over samples of the per-iteration time).
"""
import json
import os
import sys
from pathlib import Path

TARGET = 1.15


def median_ns(root: Path, group: str, bench: str) -> float | None:
    path = root / group / bench / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def fmt(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.3f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.1f} ns"


def main() -> int:
    default = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    scenarios = sorted(p.name for p in root.glob("overhead_*"))
    if not scenarios:
        print(f"no overhead results under {root}", file=sys.stderr)
        return 1
    print("| scenario | direct reqwest p50 | proxy, telemetry on p50 | ratio | proxy, telemetry off p50 | ratio | telemetry share |")
    print("|---|---|---|---|---|---|---|")
    for group in scenarios:
        direct = median_ns(root, group, "direct_reqwest")
        on = median_ns(root, group, "proxy_telemetry_on")
        off = median_ns(root, group, "proxy_telemetry_off")
        if None in (direct, on, off):
            continue
        name = group.removeprefix("overhead_")
        share = (on - off) / on
        print(
            f"| {name} | {fmt(direct)} | {fmt(on)} | {on / direct:.2f}× | {fmt(off)} | {off / direct:.2f}× | {share:+.1%} |"
        )
    extra = []
    for group in ("parts", "telemetry_record"):
        for bench_dir in sorted((root / group).glob("*")):
            for est in sorted(bench_dir.rglob("new/estimates.json")):
                rel = est.parent.parent.relative_to(root)
                ns = json.loads(est.read_text())["median"]["point_estimate"]
                extra.append(f"| {rel} | {fmt(ns)} |")
    if extra:
        print()
        print("| part | p50 |")
        print("|---|---|")
        print("\n".join(extra))
    print()
    print(f"target: proxy ≤ {TARGET}× direct at p50")
    return 0


if __name__ == "__main__":
    sys.exit(main())
