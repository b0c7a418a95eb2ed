"""Encode benchmark: records per second of the agency-side encoder, and peak memory.

Usage::

    .venv/bin/python benchmarks/bench_encode.py --scale medium [--seed 3]

Reads each agency's extract through its contract first (not timed: that is the ingest
benchmark), then times ``hashing.encode_extract`` per agency (filters, hardening, blocking
tokens, pseudonyms, communities) and writing the encoded parquet file. Prints a table and
writes ``benchmarks/results/encode_<scale>.json``. For comparison, clkhash (the reference
PPRL encoder) was measured at about 5,500 records/s on this machine class.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import DATA, PeakRSS, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--night", default="20261125")
    args = ap.parse_args()
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, '.');"
                    "from benchmarks._common import synthetic_night;"
                    f"synthetic_night({args.scale!r}, {args.seed}, {args.night!r})"],
                   check=True, cwd=ROOT)

    from data_contracts import find_extracts, load_extract, parse_night
    from data_contracts.communities import load_crosswalk
    from data_contracts.encoded import EncodedMeta, encoded_path, write_encoded
    from hashing import EncodingSettings, LinkageKey, encode_extract
    from pipeline.config import load_settings

    settings = load_settings()
    enc: EncodingSettings = settings.encoding
    crosswalk = load_crosswalk(settings.communities.crosswalk_path)
    key = LinkageKey.from_bytes(bytes(range(32)))
    folder = DATA / f"{args.scale}_seed{args.seed}_{args.night}"
    night, paths = find_extracts(folder, args.night)
    encode_extract(load_extract(paths["DJS"], "DJS", parse_night(night)).persons.head(50),
                   key, enc, crosswalk)               # warm-up: one-time table loads
    rows = []
    with tempfile.TemporaryDirectory() as tmp, PeakRSS() as overall:
        for agency, path in paths.items():
            persons = load_extract(path, agency, parse_night(night)).persons
            gc.collect()
            with PeakRSS() as peak:
                t0 = time.perf_counter()
                table = encode_extract(persons, key, enc, crosswalk)
                t1 = time.perf_counter()
                write_encoded(table, EncodedMeta(key.key_id, agency, night, enc.describe(),
                                                 enc.sha256()),
                              encoded_path(Path(tmp), agency, night))
                t2 = time.perf_counter()
            rows.append({"agency": agency, "records": table.num_rows,
                         "encode_seconds": round(t1 - t0, 3),
                         "write_seconds": round(t2 - t1, 3),
                         "records_per_second": round(table.num_rows / (t2 - t0)),
                         "encoded_mb": round(encoded_path(Path(tmp), agency, night)
                                             .stat().st_size / 2**20, 1),
                         "peak_rss_mb": round(peak.peak_mb)})
            del persons, table
    n = sum(r["records"] for r in rows)
    secs = sum(r["encode_seconds"] + r["write_seconds"] for r in rows)
    print(f"encode, {args.scale} synthetic night (seed {args.seed}), key-holding agency side:")
    print(f"{'agency':7} {'records':>10} {'encode s':>9} {'write s':>8} {'records/s':>10} "
          f"{'file MB':>8} {'peak MB':>8}")
    for r in rows:
        print(f"{r['agency']:7} {r['records']:>10,} {r['encode_seconds']:>9.2f} "
              f"{r['write_seconds']:>8.2f} {r['records_per_second']:>10,} "
              f"{r['encoded_mb']:>8,} {r['peak_rss_mb']:>8,}")
    print(f"{'all':7} {n:>10,} {'':>9} {'':>8} {round(n / secs):>10,} "
          f"{sum(r['encoded_mb'] for r in rows):>8,.1f} {round(overall.peak_mb):>8,}")
    out = write_result(f"encode_{args.scale}", {
        "benchmark": "encode", "scale": args.scale, "seed": args.seed, "agencies": rows,
        "records": n, "seconds": round(secs, 3), "records_per_second": round(n / secs),
        "peak_rss_mb": round(overall.peak_mb), "settings": enc.describe()})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
