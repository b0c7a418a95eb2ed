"""The nightly_linkage Prefect flow end to end on a small synthetic night."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pii import found_in, pii_values, prefect_database_files
from stages import over_quarantine_limit

from data_contracts import ContractError, QuarantineLimitError
from pipeline.evaluate import linkage_vs_truth, quarantine_vs_truth

pytestmark = pytest.mark.e2e


def _run(extracts: Path, out: Path, **kw):
    from flows import nightly_linkage

    return nightly_linkage(str(extracts), str(out), **kw)


def test_small_night_end_to_end(small_night: Path, prefect_harness, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = _run(small_night, out)
    run_dir = Path(result["run_dir"])
    assert run_dir.parent == out and run_dir.name.startswith("20261125-")
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "community_counts.csv", "id_state.parquet", "linkage_model.json",
        "linkage_pairs.parquet", "linkage_records.parquet", "manifest.json",
        "match_quality.html", "match_quality.json", "quarantine.csv",
        "shared_family_roster.parquet"]                 # no recipients: no identified roster
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["run_id"] == run_dir.name and manifest["night"] == "20261125"
    assert set(manifest["inputs"]) == {"DHS", "DJS", "DPSCS"}
    assert manifest["outputs"]["quarantine.csv"]["sha256"]
    from hashing import LinkageKey

    assert manifest["stages"] == ["ingest", "encode", "audit", "link", "publish", "handoff",
                                  "report"]
    assert manifest["identified_roster"] == {}
    assert manifest["linkage_key_id"] == LinkageKey.load().key_id
    assert {a: e["records"] for a, e in manifest["encoded"].items()} == {
        a: c["records_out"] for a, c in manifest["counts"].items()}

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

    # the link stage: one row per record, and the night's multi-system families found
    linked = pd.read_parquet(run_dir / "linkage_records.parquet")
    assert len(linked) == len(records)
    assert set(linked[["agency", "record_id"]].itertuples(index=False)) == set(
        records[["agency", "record_id"]].itertuples(index=False))
    quality = linkage_vs_truth(linked, records)
    assert quality["record"]["f1"] >= 0.85, quality["record"]
    assert quality["family_pair"]["f1"] >= 0.85, quality["family_pair"]
    assert manifest["linkage"]["counts"]["multi_system_records"] == int(
        linked["multi_system"].sum())

    # no staging (PII) left, no partial folder, and no input value in what the run wrote
    assert not list(out.glob(".*.partial"))
    assert not any((out / ".agency-side").iterdir())
    assert not any((out / ".exchange").iterdir())
    needles = pii_values(small_night)
    assert len(needles) > 1000
    searched = [*run_dir.iterdir(), *prefect_database_files()]
    assert any(p.suffix == ".db" for p in searched)
    for path in searched:
        assert not found_in(needles, path.read_bytes().upper()), f"{path.name} holds input values"


def test_quarantine_limit_stops_the_run_with_no_outputs(small_night: Path, prefect_harness,
                                                        tmp_path: Path) -> None:
    extracts = over_quarantine_limit(small_night, tmp_path / "extracts")
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
    assert not out.exists()                     # stopped before the output root was made


def test_pii_search_finds_what_is_there() -> None:
    """The search above must be able to fail: it finds values wherever they sit."""
    blob = b'{"x": "SMITH, JOHN", "d": "01/02/1980"}'
    needles = {b"SMITH, JOHN", b"01/02/1980", b"212551234", b"SMITH, JANE"}
    assert set(found_in(needles, blob)) == {b"SMITH, JOHN", b"01/02/1980"}


def test_agency_encode_flow_writes_only_what_an_agency_sends(small_night: Path,
                                                              prefect_harness,
                                                              tmp_path: Path) -> None:
    from data_contracts.encoded import read_encoded
    from flows import agency_encode
    from hashing import LinkageKey

    out = tmp_path / "to_linkage_side"
    result = agency_encode(str(next(small_night.glob("djs_youth_*.txt"))), "DJS", str(out))
    assert sorted(p.name for p in out.iterdir()) == ["encoded_DJS_20261125.parquet",
                                                     "quarantine_DJS_20261125.csv"]
    table, meta = read_encoded(out / "encoded_DJS_20261125.parquet")
    truth = pd.read_parquet(small_night / "truth" / "records.parquet")
    assert set(table["record_id"].to_pylist()) == set(
        truth.loc[truth["agency"] == "DJS", "record_id"])
    assert meta.key_id == LinkageKey.load().key_id == result["encoded"]["key_id"]
    assert meta.agency == "DJS" and meta.night == "20261125"
    assert result["rows_quarantined"] == len(pd.read_csv(out / "quarantine_DJS_20261125.csv"))


def test_cli_keygen_then_encode(small_night: Path, prefect_harness, tmp_path: Path,
                                monkeypatch) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    runner = CliRunner()
    key = tmp_path / "agency.key"
    first = runner.invoke(app, ["keygen", "--out", str(key)])
    assert first.exit_code == 0 and "k1-" in first.output
    assert key.read_text().split(":")[1].strip() not in first.output
    again = runner.invoke(app, ["keygen", "--out", str(key)])
    assert again.exit_code == 2 and "refusing to overwrite" in again.stderr
    monkeypatch.setenv("SST_LINKAGE_KEY_FILE", str(key))
    out = tmp_path / "out"
    result = runner.invoke(app, ["encode", "--agency", "dpscs", "--extract",
                                 str(next(small_night.glob("dpscs_*.parquet"))),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "encoded_DPSCS_20261125.parquet").exists()
    key.chmod(0o644)
    refused = runner.invoke(app, ["encode", "--agency", "DPSCS", "--extract",
                                  str(next(small_night.glob("dpscs_*.parquet"))),
                                  "--out", str(out)])
    assert refused.exit_code == 2 and "chmod 600" in refused.stderr
