"""Synthetic-night benchmark: generation time and peak memory per scale.

Usage::

    .venv/bin/python benchmarks/bench_synth.py [--scales small medium large] [--seed 7]

Each scale is generated in a child process (so peak memory is that generation's alone)
into a temporary folder. Prints a table and writes ``benchmarks/results/synth.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import write_result  # noqa: E402

CHILD = """
import json, resource, sys, time
sys.path.insert(0, '.')
from pipeline.synth import generate_night
t0 = time.perf_counter()
s = generate_night(sys.argv[1], seed=int(sys.argv[2]), scale=sys.argv[3], night='20261125')
print(json.dumps({"seconds": round(time.perf_counter() - t0, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                  "records": s["records_total"],
                  "multi_system_families": s["multi_system_families"],
                  "dirty_rows": sum(s["dirty_rows"].values())}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", nargs="+", default=["small", "medium", "large"])
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rows = {}
    for scale in args.scales:
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([sys.executable, "-c", CHILD, tmp, str(args.seed), scale],
                                 cwd=ROOT, check=True, capture_output=True, text=True)
        rows[scale] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"synthetic nights (seed {args.seed}):")
    print(f"{'scale':7} {'records':>10} {'multi-system families':>22} {'dirty rows':>11} "
          f"{'seconds':>8} {'peak MB':>8}")
    for scale, r in rows.items():
        print(f"{scale:7} {r['records']:>10,} {r['multi_system_families']:>22,} "
              f"{r['dirty_rows']:>11,} {r['seconds']:>8} {r['peak_rss_mb']:>8,}")
    print(f"wrote {write_result('synth', {'benchmark': 'synth', 'seed': args.seed, 'scales': rows})}")


if __name__ == "__main__":
    main()
