"""The nightly_linkage Prefect flow end to end on a small synthetic night."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from data_contracts import ContractError, QuarantineLimitError
from pipeline.evaluate import quarantine_vs_truth

pytestmark = pytest.mark.e2e


def _run(extracts: Path, out: Path, **kw):
    from flows import nightly_linkage

    return nightly_linkage(str(extracts), str(out), **kw)


def _pii_values(extracts: Path) -> set[bytes]:
    """Distinctive identifying values of the night's input, as bytes to search for."""
    dhs = pd.read_csv(next(extracts.glob("dhs_clients_*.csv")), dtype=str,
                      keep_default_na=False, encoding="utf-8", encoding_errors="replace",
                      on_bad_lines="skip")
    dpscs = pq.read_table(next(extracts.glob("dpscs_offenders_*.parquet"))).to_pandas()
    values: set[str] = set()
    values |= {s for s in dhs["ssn"].str.replace("-", "") if re.fullmatch(r"\d{9}", s)}
    values |= {s for s in dhs["dob"] if re.fullmatch(r"\d\d/\d\d/\d{4}", s)}
    values |= {s.upper() for s in dhs["last_name"] if len(s) >= 8 and s.isalpha()}
    values |= {s.upper() for s in dhs["addr_street"] if len(s) >= 12}
    values |= {str(d) for d in dpscs["dob"].dropna()}
    values |= {s.upper() for s in dpscs["full_name"].dropna() if len(s) >= 10}
    return {v.encode() for v in values}


def test_small_night_end_to_end(small_night: Path, prefect_harness, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = _run(small_night, out)
    run_dir = Path(result["run_dir"])
    assert run_dir.parent == out and run_dir.name.startswith("20261125-")
    assert sorted(p.name for p in run_dir.iterdir()) == ["manifest.json", "quarantine.csv"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["run_id"] == run_dir.name and manifest["night"] == "20261125"
    assert set(manifest["inputs"]) == {"DHS", "DJS", "DPSCS"}
    assert manifest["outputs"]["quarantine.csv"]["sha256"]
    assert manifest["linkage_key_id"] is None and manifest["stages"] == ["ingest"]

    truth = json.loads((small_night / "truth" / "summary.json").read_text())
    q = pd.read_csv(run_dir / "quarantine.csv", dtype=str)
    assert list(q.columns) == ["agency", "line_number", "record_id", "reason"]
    ev = quarantine_vs_truth(run_dir / "quarantine.csv", small_night / "truth")
    assert ev["ALL"]["dirty"] > 0
    assert ev["ALL"]["caught_share"] >= 0.99
    assert ev["ALL"]["right_reason_share"] >= 0.99
    assert ev["ALL"]["legitimate_quarantined"] == 0
    # every legitimate truth record came out as a person record
    records = pd.read_parquet(small_night / "truth" / "records.parquet")
    for agency, c in manifest["counts"].items():
        assert c["records_out"] == int((records["agency"] == agency).sum())
        assert c["rows_quarantined"] == ev[agency]["caught"]
    assert truth  # the generator's summary is there for the demo to print

    # no staging (PII) left, no partial folder, and no input value in what the run wrote
    assert not list(out.glob(".*.partial"))
    assert not any((out / ".agency-side").iterdir())
    needles = _pii_values(small_night)
    assert len(needles) > 1000
    for path in run_dir.iterdir():
        blob = path.read_bytes().upper()
        hits = [n for n in needles if n in blob]
        assert not hits, f"{path.name} holds input values"


def test_quarantine_limit_stops_the_run_with_no_outputs(small_night: Path, prefect_harness,
                                                        tmp_path: Path) -> None:
    extracts = tmp_path / "extracts"
    shutil.copytree(small_night, extracts, ignore=shutil.ignore_patterns("truth"))
    dhs = next(extracts.glob("dhs_clients_*.csv"))
    lines = dhs.read_bytes().splitlines(keepends=True)
    n_bad = len(lines) // 10
    bad = [re.sub(rb"^(C\d{9}),", rb"X\1,", line) for line in lines[1:n_bad + 1]]
    dhs.write_bytes(b"".join([lines[0], *bad, *lines[n_bad + 1:]]))
    out = tmp_path / "runs"
    with pytest.raises(QuarantineLimitError) as exc:
        _run(extracts, out)
    msg = str(exc.value)
    assert "DHS" in msg and "bad_id" in msg and "limit of 5.0 %" in msg and "\n" not in msg
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == []
    assert not list(out.glob(".*.partial"))


def test_missing_extract_stops_the_run(small_night: Path, prefect_harness,
                                       tmp_path: Path) -> None:
    extracts = tmp_path / "extracts"
    shutil.copytree(small_night, extracts, ignore=shutil.ignore_patterns("truth", "djs_*"))
    out = tmp_path / "runs"
    with pytest.raises(ContractError, match="djs_youth_20261125.txt: extract file is missing"):
        _run(extracts, out)
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == []
