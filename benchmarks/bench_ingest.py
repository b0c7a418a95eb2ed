"""Ingest benchmark: rows per second per agency and peak memory of the contract stage.

Usage::

    .venv/bin/python benchmarks/bench_ingest.py --scale large [--seed 3]

Generates the synthetic night once (cached under benchmarks/data/, in a child process so
its memory does not count), then reads each agency's extract through its contract in this
process, as the nightly flow's ingest stage does, sampling resident memory throughout.
Prints a table and writes ``benchmarks/results/ingest_<scale>.json``.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import PeakRSS, write_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="large", choices=["small", "medium", "large"])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--night", default="20261125")
    args = ap.parse_args()

    # Generate in a child process: only the ingest's memory is measured here.
    subprocess.run([sys.executable, "-c",
                    "import sys; sys.path.insert(0, '.');"
                    "from benchmarks._common import synthetic_night;"
                    f"synthetic_night({args.scale!r}, {args.seed}, {args.night!r})"],
                   check=True, cwd=Path(__file__).resolve().parent.parent)
    from benchmarks._common import night_folder
    from data_contracts import find_extracts, load_extract, parse_night

    folder = night_folder(args.scale, args.seed, args.night)
    night, paths = find_extracts(folder, args.night)
    rows = []
    with PeakRSS() as overall:
        for agency, path in paths.items():
            gc.collect()
            t0 = time.perf_counter()
            with PeakRSS() as peak:
                result = load_extract(path, agency, parse_night(night))
            seconds = time.perf_counter() - t0
            rows.append({"agency": agency, "rows_read": result.rows_read,
                         "records_out": len(result.persons),
                         "quarantined": len(result.quarantine),
                         "file_mb": round(path.stat().st_size / 2**20, 1),
                         "seconds": round(seconds, 2),
                         "rows_per_second": round(result.rows_read / seconds),
                         "peak_rss_mb": round(peak.peak_mb)})
            del result
    total_rows = sum(r["rows_read"] for r in rows)
    total_s = sum(r["seconds"] for r in rows)
    print(f"ingest, {args.scale} synthetic night (seed {args.seed}):")
    print(f"{'agency':7} {'rows':>10} {'records':>10} {'seconds':>8} {'rows/s':>10} {'peak MB':>8}")
    for r in rows:
        print(f"{r['agency']:7} {r['rows_read']:>10,} {r['records_out']:>10,} {r['seconds']:>8.2f} "
              f"{r['rows_per_second']:>10,} {r['peak_rss_mb']:>8,}")
    print(f"{'all':7} {total_rows:>10,} {sum(r['records_out'] for r in rows):>10,} "
          f"{total_s:>8.2f} {round(total_rows / total_s):>10,} {round(overall.peak_mb):>8,}")
    out = write_result(f"ingest_{args.scale}", {
        "benchmark": "ingest", "scale": args.scale, "seed": args.seed, "agencies": rows,
        "total_rows": total_rows, "total_seconds": round(total_s, 2),
        "rows_per_second": round(total_rows / total_s), "peak_rss_mb": round(overall.peak_mb)})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
