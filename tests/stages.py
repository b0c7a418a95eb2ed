"""Running a night's stages as plain functions, as the flow does (shared by the report tests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pipeline import report as R


def run_night(extracts: Path, out: Path, night: str, truth: Path | None) -> dict:
    """One night through ingest, encode, link and publish into ``out``, the report written
    into the partial folder before the manifest (what the flow does)."""
    from data_contracts import AGENCIES, find_extracts
    from pipeline import nightly
    from pipeline.config import load_settings
    from pipeline.run_folder import RunFolder

    settings = load_settings(None)
    night, paths = find_extracts(extracts, night)
    with RunFolder(out, night) as run:
        started = datetime.now(UTC)
        summaries = [nightly.ingest_agency(paths[a], a, night, settings, run.staging)
                     for a in AGENCIES]
        encoded = [nightly.encode_agency(nightly.persons_path(run.staging, a, night), a,
                                         night, settings, run.exchange) for a in AGENCIES]
        linkage = nightly.link_night({e["agency"]: run.exchange / e["file"] for e in encoded},
                                     settings, run.partial)
        published = nightly.publish_night(run.partial, out, night, settings)
        manifest = nightly.build_manifest(
            run_id=run.run_id, night=night, started=started, settings=settings,
            summaries=summaries, stages=["ingest", "encode", "link", "publish"],
            encoded=encoded, linkage=linkage, published=published)
        summary = R.write_report(run.partial, manifest, truth=truth)
        run_dir = run.commit(manifest)
    return {"run_dir": run_dir, "summary": summary, "extracts": extracts,
            "manifest": json.loads((run_dir / "manifest.json").read_text()),
            "report": json.loads((run_dir / R.REPORT_JSON).read_text()),
            "html": (run_dir / R.REPORT_HTML).read_text()}


def over_quarantine_limit(night_folder: Path, out: Path) -> Path:
    """A copy of a synthetic night's extracts (``out``) whose first tenth of DHS rows carry
    a malformed client id: over the default quarantine limit, so a run must stop."""
    import re
    import shutil

    shutil.copytree(night_folder, out, ignore=shutil.ignore_patterns("truth"))
    dhs = next(out.glob("dhs_clients_*.csv"))
    lines = dhs.read_bytes().splitlines(keepends=True)
    n_bad = len(lines) // 10
    bad = [re.sub(rb"^(C\d{9}),", rb"X\1,", line) for line in lines[1:n_bad + 1]]
    dhs.write_bytes(b"".join([lines[0], *bad, *lines[n_bad + 1:]]))
    return out
