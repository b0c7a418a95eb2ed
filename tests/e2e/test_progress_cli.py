"""`sst-link run` says when each stage starts and ends, with counts (plain lines when not on
a terminal), the Prefect log has the same events, and a failing run still ends in its one
`error:` line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from stages import over_quarantine_limit
from typer.testing import CliRunner

pytestmark = pytest.mark.e2e
STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\] (.*)$")


def _events(output: str) -> list[str]:
    return [m.group(1) for line in output.splitlines() if (m := STAMP.match(line))]


def _prefect_log(run_id: str) -> list[str]:
    """The messages of the Prefect flow run that made ``run_id``, and of its tasks."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)          # the run's last lines are sent in a batch
    with get_client(sync_client=True) as client:
        # newest first: the suite's Prefect database holds many earlier runs
        logs = client.read_logs(sort=LogSort.TIMESTAMP_DESC, limit=200)
        flow_run = next(log.flow_run_id for log in logs if f"run {run_id} for night"
                        in log.message)
        return [log.message for log in client.read_logs(log_filter=LogFilter(
            flow_run_id=LogFilterFlowRunId(any_=[flow_run])), limit=200)]


def test_run_prints_each_stage_start_and_end_with_counts(small_night: Path, prefect_harness,
                                                         tmp_path: Path) -> None:
    import json

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["run", "--extracts", str(small_night), "--out",
                                      str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    events = _events(result.stdout)
    at = {e: i for i, e in enumerate(events)}
    ends = {e.split(" done: ")[0]: (i, e) for i, e in enumerate(events) if " done: " in e}
    last = -1
    for stage in ("ingest", "encode", "link", "publish", "handoff", "report"):
        assert at[f"{stage} started"] > last and ends[stage][0] > at[f"{stage} started"]
        last = ends[stage][0]
    for agency in ("DHS", "DJS", "DPSCS"):
        assert at[f"ingest {agency} started"] < at["ingest done: " + ends["ingest"][1]
                                                     .split(" done: ")[1]]
        assert any(re.fullmatch(rf"encode {agency}: [\d,]+ records \(\d+\.\d s\)", e)
                   for e in events)
    assert [e.split(":")[0] for e in events if e.startswith("link ") and "step" in e] == [
        "link blocking", "link comparison", "link model", "link scoring", "link clustering",
        "link within families", "link person check", "link summary"]
    run_dir = next(p for p in (tmp_path / "runs").iterdir() if not p.name.startswith("."))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    counts = manifest["counts"].values()
    assert ends["ingest"][1] == (
        f"ingest done: {sum(c['rows_read'] for c in counts):,} rows, "
        f"{sum(c['rows_quarantined'] for c in counts):,} quarantined, "
        f"{sum(c['records_out'] for c in counts):,} records "
        f"({manifest['stage_seconds']['ingest']:.1f} s)")
    # the stage lines come before the summary, which is unchanged
    lines = result.stdout.splitlines()
    assert max(i for i, line in enumerate(lines) if STAMP.match(line)) < next(
        i for i, line in enumerate(lines) if f"run {run_dir.name}" in line)

    # the steward watching the UI sees the stages too
    logged = _prefect_log(run_dir.name)
    for stage in ("ingest", "encode", "link", "publish", "handoff", "report"):
        assert f"{stage} started" in logged
        assert any(m.startswith(f"{stage} done: ") for m in logged), (stage, logged)
    assert not [line for line in result.output.splitlines() if line.startswith("error:")]


def test_a_failing_run_still_ends_in_one_error_line(small_night: Path, prefect_harness,
                                                     tmp_path: Path) -> None:
    from pipeline.cli import app

    extracts = over_quarantine_limit(small_night, tmp_path / "extracts")
    result = CliRunner().invoke(app, ["run", "--extracts", str(extracts), "--out",
                                      str(tmp_path / "runs")])
    assert result.exit_code == 2
    out = [line for line in result.output.splitlines() if line.strip()]
    events = _events(result.output)
    assert "ingest started" in events and any(e.startswith("ingest DHS: ") for e in events)
    assert not any(e.startswith("ingest done") for e in events)     # the stage did not end
    assert [line for line in out if line.startswith("error:")] == [out[-1]]
    assert "quarantined share over the limit" in out[-1]
