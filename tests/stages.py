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
