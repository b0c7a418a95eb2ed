"""The privacy audit as a stage of every nightly run: its shares go into the manifest, the
report (a warning box on the first screen, part 8) and a Prefect artifact, hold no input
value; with ``audit.strict`` a field over the limit stops the run in one line, status 2,
nothing published."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from pii import found_in, pii_values
from typer.testing import CliRunner

pytestmark = pytest.mark.e2e
STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\] (.*)$")


def _events(output: str) -> list[str]:
    return [m.group(1) for line in output.splitlines() if (m := STAMP.match(line))]


def _artifact(flow_run_of: str) -> str:
    """The markdown of the ``privacy-audit`` artifact of the flow run that made the run
    folder ``flow_run_of`` (its summary artifact names the folder)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        def newest(key: str) -> list:
            return client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=20)
        summary = next(a for a in newest("nightly-linkage-summary")
                       if flow_run_of in str(a.data))
        audit = next(a for a in newest("privacy-audit")
                     if a.flow_run_id == summary.flow_run_id)
        return str(audit.data)


def _record_ids(extracts: Path) -> set[bytes]:
    """Every record id of the night's person records (what a leak would show first)."""
    from data_contracts import find_extracts, load_extract, parse_night

    night, paths = find_extracts(extracts)
    ids = pd.concat([load_extract(p, a, parse_night(night)).persons["record_id"]
                     for a, p in paths.items()])
    return {str(i).encode() for i in ids}


def test_every_run_audits_into_manifest_report_and_artifact(
        small_night: Path, prefect_harness, tmp_path: Path) -> None:
    """The real default stage (no config): default limit, sample and attacks."""
    from pipeline.cli import app
    from pipeline.nightly import validate_manifest
    from pipeline.report import REPORT_HTML, REPORT_JSON

    result = CliRunner().invoke(app, ["run", "--extracts", str(small_night), "--out",
                                      str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    run_dir = next(p for p in (tmp_path / "runs").iterdir() if not p.name.startswith("."))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    validate_manifest(manifest)
    assert manifest["stages"][:4] == ["ingest", "encode", "audit", "link"]
    audit = manifest["audit"]
    assert audit["limit"] == 0.01 and audit["strict"] is False
    assert audit["records_attacked"] == 10000 < audit["night_records"] == sum(
        c["records_out"] for c in manifest["counts"].values())
    assert audit["attacks"] == ["frequency", "pattern_mining"]
    assert audit["references"] == ["night"]
    assert set(audit["blocking"]) == {"ssn", "dob_name", "name_yob", "name_area", "name",
                                      "address", "dob_area", "number_zip"}
    first = audit["fields"]["first_name"]
    # every field gets both attacks; which fields exceed the limit depends on the key (the
    # alignment behind pattern mining is a search that fails under some keys: first names
    # read back 89-94 % under most, 0.3 % under one), but at the default hardening several
    # always do
    assert set(first["by_attack"]) >= {"pattern_mining", "frequency_denoising"}
    over = {o["name"]: o for o in audit["over_limit"]}
    assert len(over) >= 3 and all(o["share_records"] > 0.01 for o in audit["over_limit"])
    assert [o["share_records"] for o in audit["over_limit"]] == sorted(
        (o["share_records"] for o in audit["over_limit"]), reverse=True)
    assert not audit["fields"]["ssn"]["over_limit"]

    # the terminal: the stage's start and end, and one warning line naming the fields
    events = _events(result.stdout)
    encoded = next(i for i, e in enumerate(events) if e.startswith("encode done: "))
    assert encoded < events.index("audit started") < events.index("link started")
    assert any(e.startswith("audit done: 10,000 records attacked, 19 fields and rules, "
                            f"{len(over)} over the limit") for e in events)
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    worst = audit["over_limit"][0]
    assert warnings[0].startswith(f"warning: privacy audit over the 1.00 % limit on "
                                  f"{len(over)} field(s) or rule(s): {worst['kind']} "
                                  f"{worst['name']} {100 * worst['share_records']:.2f} %")

    # the report: the same figures, a warning box before part 1, a table in part 8
    report = json.loads((run_dir / REPORT_JSON).read_text())
    assert report["privacy_audit"] == audit
    assert any(f["part"] == "privacy_audit" for f in report["flags"])
    html = (run_dir / REPORT_HTML).read_text()
    box = html.index('id="privacy-warning"')
    assert box < html.index('id="headline"') < html.index('id="privacy"')
    warning_box = html[box:html.index("</div>", box)]
    for o in audit["over_limit"]:
        assert f"<strong>{o['name']}</strong>: {100 * o['share_records']:.2f} %" in warning_box
    part8 = html[html.index('<section id="privacy">'):]
    assert "first_name" in part8 and "rule number_zip" in part8

    # the Prefect artifact
    artifact = _artifact(run_dir.name)
    from hashing.audit.stage import ATTACK_LABELS

    assert f"| first_name | {ATTACK_LABELS[first['worst']['attack']]} | night | " \
           f"{100 * first['worst']['share_records']:.2f} %" in artifact
    assert "**OVER**" in artifact

    # aggregate shares only: no name, birth date, SSN, street or record id of the night
    texts = [json.dumps(audit).encode(), json.dumps(report["privacy_audit"]).encode(),
             warning_box.encode(), part8.encode(), artifact.encode(),
             "\n".join(warnings).encode()]
    needles = pii_values(small_night)
    ids = _record_ids(small_night)
    assert len(needles) > 1000 and len(ids) > 10000
    for blob in texts:
        assert found_in(needles, blob) == []
        tokens = set(re.findall(rb"[A-Za-z0-9#]+", blob))
        assert not ids & tokens


def test_strict_audit_stops_the_run_in_one_line_and_publishes_nothing(
        small_night: Path, prefect_harness, tmp_path: Path) -> None:
    """A tiny limit and a cheap stage (frequency attacks only, 2,000 records)."""
    from pipeline.cli import app

    config = tmp_path / "strict.toml"
    config.write_text('[audit]\nstrict = true\nlimit = 0.0001\nrun_records = 2000\n'
                      'run_attacks = ["frequency"]\n')
    out = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", "--extracts", str(small_night), "--out",
                                      str(out), "--config", str(config)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [lines[-1]]
    assert re.match(r"error: audit\.limit: the privacy audit re-identifies more than 0\.01 % "
                    r"of records on field \w+ \d+\.\d\d % \(", errors[0]), errors[0]
    assert "no run folder was published" in errors[0]
    events = _events(result.output)
    assert "audit started" in events and "link started" not in events
    assert not any(e.startswith("audit done") for e in events)
    # nothing published: no run folder, no partial, staging and exchange removed
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == []
    assert not list(out.glob(".*.partial"))
    for private in (".agency-side", ".exchange"):
        assert not (out / private).exists() or not any((out / private).iterdir())
