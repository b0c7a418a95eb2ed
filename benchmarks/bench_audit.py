"""Privacy audit benchmark: every attack of ``sst-link audit`` on a synthetic night of every
profile, with the default hardening (and other encoding settings on request).

Usage::

    .venv/bin/python benchmarks/bench_audit.py [--scale medium] [--seed 101]
        [--profiles baseline city namesakes sparse messy] [--configs default plain flip10]

For each profile (``pipeline.synth.profiles``; held-out seed 101 as in
``bench_robustness.py``) and encoding configuration, the night's extracts go through the
contracts, are encoded with a fixed benchmark key and attacked by
:func:`hashing.audit.audit_night` (frequency exact and denoising, pattern mining, graph
matching; night and Census references; frequency of the blocking tokens), scored against
the plaintext. Prints one table per night (share of records re-identified beyond chance,
worst reference, per field and rule and attack), then the worst share per field over the
profiles, and writes ``benchmarks/results/privacy_audit_<scale>[_<tag>].json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import PeakRSS, synthetic_night, write_result  # noqa: E402
from pipeline.synth.profiles import PROFILES  # noqa: E402

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "plain": dict(balance=False, flip_fraction=0.0),
    "balanced": dict(flip_fraction=0.0),
    "flip10": dict(flip_fraction=0.10),
    "flip15": dict(flip_fraction=0.15),
    "flip25": dict(flip_fraction=0.25),
}


def audit_one(scale: str, seed: int, profile: str, config: str) -> dict[str, Any]:
    import pyarrow as pa

    from data_contracts import find_extracts, load_extract, parse_night
    from data_contracts.communities import load_crosswalk
    from hashing import EncodingSettings, LinkageKey, encode_extract
    from hashing.audit import audit_night, format_table
    from hashing.values import field_values

    folder = synthetic_night(scale, seed, profile=profile)
    night, paths = find_extracts(folder)
    frames = [load_extract(p, a, parse_night(night)).persons for a, p in paths.items()]
    key = LinkageKey.from_bytes(bytes(range(32)))
    settings = EncodingSettings(**CONFIGS[config])
    crosswalk = load_crosswalk(ROOT / "configs" / "communities.csv")
    records = pa.concat_tables([encode_extract(f, key, settings, crosswalk) for f in frames])
    parts = [field_values(f) for f in frames]
    plain = {k: pa.concat_arrays([p[k] for p in parts]) for k in parts[0]}
    del frames
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        result = audit_night(records, settings.describe(), plain)
        seconds = time.perf_counter() - t0
    print(f"\n{scale} {profile} (seed {seed}), encoding {config}: {records.num_rows:,} records, "
          f"{result['candidate_pairs']:,} candidate pairs, audit {seconds:.0f} s, "
          f"peak {rss.peak_mb:,.0f} MB")
    print(format_table(result))
    return {"scale": scale, "seed": seed, "profile": profile, "config": config,
            "records": records.num_rows, "seconds": round(seconds, 1),
            "peak_mb": round(rss.peak_mb), "audit": result}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    ap.add_argument("--configs", nargs="+", default=["default"], choices=list(CONFIGS))
    ap.add_argument("--tag", default="", help="suffix of the JSON file's name")
    args = ap.parse_args()

    nights = [audit_one(args.scale, args.seed, p, c) for c in args.configs
              for p in args.profiles]
    print("\nworst share of records re-identified per field and rule (attack), by night")
    names = list(nights[0]["audit"]["fields"]) + [f"blk_{r}" for r in nights[0]["audit"]
                                                   ["blocking"]]
    print(f"{'field / rule':14}" + "".join(f"{n['profile'][:9] + '/' + n['config'][:7]:>19}"
                                            for n in nights))
    for name in names:
        cells = []
        for n in nights:
            table = n["audit"]["blocking"] if name.startswith("blk_") else n["audit"]["fields"]
            w = table[name.removeprefix("blk_")]["worst"]
            cells.append(f"{100 * w['records']:>8.2f} % {w['attack'][:8]:>8}")
        print(f"{name:14}" + "".join(f"{c:>19}" for c in cells))
    over = {f"{n['profile']}/{n['config']}": len(n["audit"]["over_limit"]) for n in nights}
    print("fields and rules over the 1 % limit: " + ", ".join(f"{k} {v}" for k, v in
                                                              over.items()))
    out = write_result(f"privacy_audit_{args.scale}" + (f"_{args.tag}" if args.tag else ""), {
        "benchmark": "privacy_audit", "scale": args.scale, "seed": args.seed,
        "configs": {c: CONFIGS[c] for c in args.configs}, "nights": nights})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
