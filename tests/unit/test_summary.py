"""The steward's run summary (Prefect artifact): stage times, counts and the report link."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.nightly import summary_markdown


def _manifest() -> dict:
    counts = {"rows_read": 1200, "rows_quarantined": 3, "quarantined_share": 0.0025,
              "quarantine_by_reason": {"bad_date": 3}, "records_out": 1400}
    return {"night": "20261125", "run_id": "20261125-20261126T020000Z-abcdef",
            "stages": ["ingest", "encode"], "stage_seconds": {"ingest": 1.25, "encode": 2.5},
            "counts": {"DHS": counts},
            "identified_roster": {"navigator": {"rows": 7},
                                  "analyst": {"rows": 7, "signed_by": "0123456789abcdef"}}}


def test_summary_links_the_report_by_absolute_uri_from_a_relative_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = Path("runs") / "20261125-20261126T020000Z-abcdef"
    run.mkdir(parents=True)
    (run / "match_quality.html").write_text("<html></html>")
    text = summary_markdown(_manifest(), run)          # relative, as `make demo` passes it
    uri = (tmp_path / run / "match_quality.html").as_uri()
    assert f"]({uri})" in text
    assert "ingest 1.2 s, encode 2.5 s" in text
    assert "| DHS | 1,200 | 3 | 0.25 % | bad_date 3 | 1,400 |" in text
    assert "navigator (7 rows, UNSIGNED: set handoff.signing_key)" in text
    assert "analyst (7 rows, signed by pipeline key 0123456789abcdef)" in text


def test_summary_without_a_report_has_no_link(tmp_path: Path) -> None:
    assert "match_quality.html" not in summary_markdown(_manifest(), tmp_path)
