"""The nightly run's stages as plain functions (``flows.py`` only wires them).

Stages built so far: **ingest** (each agency's extract through its contract), **encode**
(each agency's person records into a keyed, hardened encoded extract), **audit** (on the
agency side: attacks on the encoded extracts scored against the staged person frames,
aggregate shares only; :func:`audit_encoded`) and **link** (the three encoded extracts,
and nothing else, into persons, families and multi-system families). Publish is added by later work to the same flow; the manifest's ``stages``
lists what a run actually did.

What crosses a stage boundary is a path or a dict of counts, never a data frame: Prefect
records task inputs and results, and person frames hold PII.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_contracts import (
    AGENCIES,
    PERSON_COLUMNS,
    QUARANTINE_COLUMNS,
    ContractError,
    QuarantineLimitError,
    RunFolderError,
    load_extract,
    parse_night,
)
from data_contracts.communities import OTHER_MARYLAND, OUT_OF_STATE, UNKNOWN, load_crosswalk
from data_contracts.errors import EncodedFormatError
from hashing import LinkageKey, encode_file
from linkage.inputs import read_night
from linkage.link import link_records

from . import faults, handoff, suppression
from .config import Settings
from .progress import NO_PROGRESS, Event, Progress, timed
from .roster import build_roster
from .run_folder import (
    ID_STATE,
    LINKAGE_MODEL,
    LINKAGE_PAIRS,
    LINKAGE_RECORDS,
    ROSTER,
    sha256_of,
    software_version,
    write_private,
)


def night_of(extract: Path) -> str:
    """The ``YYYYMMDD`` in an extract's file name.

    Raises:
        ContractError: the name carries no night.
    """
    m = re.search(r"_(\d{8})\.[a-z]+$", Path(extract).name)
    if not m:
        raise ContractError("cannot tell the night from the file name", where=str(extract),
                            hint="pass --night YYYYMMDD")
    return m.group(1)


def persons_path(staging: Path, agency: str, night: str) -> Path:
    """Agency-side person frame of one agency (PII; staging only)."""
    return Path(staging) / f"persons_{agency}_{night}.parquet"


def quarantine_path(staging: Path, agency: str, night: str) -> Path:
    """Agency-side quarantine list of one agency (no PII, but kept beside the frame)."""
    return Path(staging) / f"quarantine_{agency}_{night}.csv"


def ingest_agency(extract: Path, agency: str, night: str, settings: Settings,
                  staging: Path, progress: Progress = NO_PROGRESS) -> dict[str, Any]:
    """Read one agency's extract through its contract and stage the results.

    Writes ``persons_<agency>_<night>.parquet`` (mode 0600) and
    ``quarantine_<agency>_<night>.csv`` into ``staging``.

    Args:
        extract: the agency's extract file.
        agency: ``DHS``, ``DJS`` or ``DPSCS``.
        night: ``YYYYMMDD``.
        settings: run settings.
        staging: the run's agency-side staging folder.
        progress: told as the agency starts and ends (rows, quarantined, records).

    Returns:
        Counts only (see :meth:`ContractResult.summary`).

    Raises:
        ContractError: the file as a whole breaks its contract.
    """
    with timed(progress, "ingest", agency) as counts:
        result = load_extract(Path(extract), agency, parse_night(night),
                              settings.ingest.contract())
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pandas(result.persons, preserve_index=False), sink,
                       compression="zstd")
        write_private(persons_path(staging, agency, night), sink.getvalue().to_pybytes())
        result.quarantine.to_csv(quarantine_path(staging, agency, night), index=False)
        summary = result.summary()
        counts.update(stage_counts("ingest", [summary]))
    return summary


def load_key(settings: Settings) -> LinkageKey:
    """The linkage key named by ``encoding.key_file`` or ``SST_LINKAGE_KEY_FILE``.

    Raises:
        KeyFileError: no key configured, missing, readable by others or malformed.
    """
    return LinkageKey.load(settings.encoding.key_file or None)


def encode_agency(persons: Path, agency: str, night: str, settings: Settings,
                  out_dir: Path, progress: Progress = NO_PROGRESS) -> dict[str, Any]:
    """Encode one agency's staged person frame into ``encoded_<agency>_<night>.parquet``.

    Args:
        persons: the staged person frame (from :func:`ingest_agency`).
        agency: ``DHS``, ``DJS`` or ``DPSCS``.
        night: ``YYYYMMDD``.
        settings: run settings (key file, encoding, community crosswalk).
        out_dir: where the encoded extract goes (what the agency sends).
        progress: told as the agency starts and ends (records encoded).

    Returns:
        Counts and fingerprints only: records, file name, SHA-256, key id.
    """
    with timed(progress, "encode", agency) as counts:
        key = load_key(settings)
        crosswalk = load_crosswalk(settings.communities.crosswalk_path)
        faults.check_staged(Path(persons), PERSON_COLUMNS, "ingest")
        path, records = encode_file(Path(persons), agency, night, key, settings.encoding,
                                    crosswalk, Path(out_dir))
        counts["records"] = records
    return {"agency": agency, "file": path.name, "sha256": sha256_of(path),
            "records": records, "key_id": key.key_id,
            "encoding_sha256": settings.encoding.sha256()}


@contextmanager
def agency_staging(out_dir: Path) -> Iterator[Path]:
    """A private (0700) staging folder for one agency-side run, next to ``out_dir`` and
    never inside it (``out_dir`` is what the agency sends): ``<parent>/.sst-agency-side/
    <pid>-<random>``. Removed at the end; folders left by killed runs (their process gone)
    are removed when the next run starts."""
    side = Path(out_dir).resolve().parent / ".sst-agency-side"
    side.mkdir(mode=0o700, exist_ok=True)
    os.chmod(side, 0o700)
    for old in side.iterdir():
        pid = old.name.split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=side))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish_file(source: Path, target: Path) -> None:
    """Copy under a temporary name, then rename: the target is whole or absent."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def audit_encoded(staging: Path, encoded: dict[str, Path], night: str, settings: Settings
                  ) -> dict[str, Any]:
    """The audit stage on the agency side, right after encode: the night's encoded
    extracts attacked as the linkage side could, scored against the staged person frames
    (:func:`hashing.audit.stage.run_audit`; a sample of ``audit.run_records`` records).
    Reads the staging and exchange folders, writes nothing.

    Args:
        staging: the run's agency-side staging folder (the person frames).
        encoded: agency -> the encoded extract the encode stage wrote.
        night: ``YYYYMMDD``.
        settings: run settings (``[audit]``, ``[linkage]``).

    Returns:
        Aggregate shares only (the manifest's ``audit``): per field and blocking rule the
        share of records and of values re-identified, the worst attack, over the limit or
        not.
    """
    from hashing.audit.stage import run_audit

    persons = {a: persons_path(staging, a, night) for a in encoded}
    for path in persons.values():
        faults.check_staged(path, PERSON_COLUMNS, "ingest")
    return run_audit(persons, encoded, settings)


def check_audit_limit(audit: dict[str, Any], settings: Settings) -> list[str]:
    """The fields and rules over ``audit.limit`` (short strings, worst first).

    Raises:
        PrivacyLimitError: ``audit.strict`` and one over the limit: one line naming the
            worst field or rule and its share (the run stops, nothing is published).
    """
    from hashing.audit.stage import check_run_limit

    return check_run_limit(audit, settings.audit.strict)


def check_same_key(encoded: list[dict[str, Any]], expected: str | None = None) -> None:
    """All agencies' encodings of a night used one key (a key file swapped mid-run would
    otherwise give filters that cannot be compared), and it is ``expected``: the key the
    run checked against the last run's before it started (a key file replaced after that
    check would publish a night no later run can continue from).

    Raises:
        EncodedFormatError: naming the agencies and their key ids.
    """
    ids = {e["agency"]: e["key_id"] for e in encoded}
    if len(set(ids.values())) > 1:
        raise EncodedFormatError("agencies were encoded with different keys (" + ", ".join(
            f"{a} {k}" for a, k in ids.items()) + ")", hint="rerun the night with one key")
    if expected is not None and set(ids.values()) - {expected}:
        raise EncodedFormatError(f"the linkage key file changed during the run ({expected} "
                                 f"-> {next(iter(ids.values()))})", where="encode stage",
                                 hint="put the key file back as it was and rerun (a rotation "
                                      "is declared with --key-rotated-from); no run folder "
                                      "was published")


def check_key_continuity(root: Path, night: str, key_id: str,
                         rotated_from: str | None = None) -> str | None:
    """The linkage key must be the one the output root's last run used, unless a rotation
    from that key is declared: another key gives encodings that cannot be compared with
    last night's, and nothing but the manifest's key id would show it.

    Args:
        root: the output root.
        night: tonight, ``YYYYMMDD``.
        key_id: tonight's key id.
        rotated_from: the key id the steward declares tonight's key replaces.

    Returns:
        The previous run's key id, or None on a first night.

    Raises:
        RunFolderError: another key without a declared rotation from it, or a declared
            rotation from a key the last run did not use.
    """
    from .run_folder import finished_runs, read_manifest

    root = Path(root)
    previous = None
    for run in reversed([p for p in finished_runs(root) if p.name[:8] <= night]):
        previous = read_manifest(run).get("linkage_key_id")
        if previous:
            break
    if previous is None or previous == key_id:
        if rotated_from is not None and previous is not None:
            raise RunFolderError(f"a key rotation from {rotated_from} is declared, but the "
                                 f"last run already used this key ({key_id})",
                                 where="--key-rotated-from", hint="leave the option out")
        return previous
    if rotated_from != previous:
        raise RunFolderError(f"the linkage key changed since the last run ({previous} -> "
                             f"{key_id})", where=str(root),
                             hint=f"if the agencies rotated the key, declare it with "
                                  f"--key-rotated-from {previous}; otherwise use the old "
                                  "key file")
    return previous


def check_quarantine_limits(summaries: list[dict[str, Any]], limit: float) -> None:
    """Stop the run when any agency's quarantined share passes the limit.

    Raises:
        QuarantineLimitError: one line naming each agency over the limit, its share and
            its leading reasons.
    """
    over = [s for s in summaries if s["quarantined_share"] > limit]
    if not over:
        return
    parts = []
    for s in over:
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(
            s["quarantine_by_reason"].items(), key=lambda kv: -kv[1])[:3])
        parts.append(f"{s['agency']} {s['rows_quarantined']:,} of {s['rows_read']:,} rows "
                     f"({100 * s['quarantined_share']:.1f} %: {reasons}) in {s['file']}")
    raise QuarantineLimitError(
        "quarantined share over the limit of "
        f"{100 * limit:.1f} %: " + "; ".join(parts),
        hint="no outputs were written; ask the agency for a corrected extract, or raise "
             "ingest.quarantine_limit in a --config file")


def publish_quarantine(staging: Path, night: str, out: Path) -> int:
    """Concatenate the agencies' quarantine lists into ``quarantine.csv``.

    Returns:
        The number of rows written.
    """
    frames = [pd.read_csv(quarantine_path(staging, a, night), dtype=str,
                          keep_default_na=False) for a in AGENCIES]
    q = pd.concat(frames, ignore_index=True)[list(QUARANTINE_COLUMNS)]
    buf = io.StringIO()
    q.to_csv(buf, index=False)
    Path(out).write_text(buf.getvalue())
    return len(q)


class StageClock:
    """Wall-clock seconds per stage, in the order run: ``with clock("link"): ...``. An
    ``OSError`` leaving a stage is noted with the stage's name (the CLI's one line says
    where it stopped); :func:`pipeline.faults.stage_hook` runs as each stage starts.

    ``progress`` is told as each stage starts (with ``total``, its agencies or steps) and
    ends (with the seconds and the counts the body puts into the dict it is given:
    :func:`stage_counts`); a stage that raises has no end event."""

    def __init__(self, progress: Progress = NO_PROGRESS) -> None:
        self.seconds: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def __call__(self, stage: str, total: int | None = None) -> Iterator[dict[str, int]]:
        faults.stage_hook(stage)
        self.progress.emit(Event("start", stage, total=total))
        start = time.perf_counter()
        counts: dict[str, int] = {}
        try:
            yield counts
        except OSError as exc:
            faults.note_stage(exc, stage)
            raise
        self.seconds[stage] = round(time.perf_counter() - start, 3)
        self.progress.emit(Event("end", stage, total=total, counts=counts,
                                 seconds=self.seconds[stage]))


def stage_counts(stage: str, result: Any) -> dict[str, int]:
    """What a stage's end says, from what its function(s) returned: ``ingest`` (the
    agencies' summaries) rows, quarantined and records; ``encode`` (their results) records;
    ``audit`` records attacked, fields and rules, over the limit;
    ``link`` records, persons, families and multi-system families; ``publish`` roster
    rows, families and community cells withheld; ``handoff`` recipients and rows;
    ``report`` flags. Counts only."""
    if stage == "ingest":
        return {"rows": sum(s["rows_read"] for s in result),
                "quarantined": sum(s["rows_quarantined"] for s in result),
                "records": sum(s["records_out"] for s in result)}
    if stage == "encode":
        return {"records": sum(e["records"] for e in result)}
    if stage == "audit":
        return {"records attacked": result["records_attacked"],
                "fields and rules": len(result["fields"]) + len(result["blocking"]),
                "over the limit": len(result["over_limit"])}
    if stage == "link":
        c = result["counts"]
        return {"records": c["records"], "persons": c["persons"], "families": c["families"],
                "multi-system families": c["multi_system_families"]}
    if stage == "publish":
        return {"roster rows": result["rows"], "multi-system families": result["families"],
                "community cells": result["community_cells"],
                "withheld": result["community_cells_withheld"]}
    if stage == "handoff":
        return {"recipients": len(result), "rows": sum(r["rows"] for r in result.values())}
    if stage == "report":
        return {"flag(s) to look at": result["flags"]}
    raise ValueError(f"unknown stage {stage!r}")


def build_manifest(*, run_id: str, night: str, started: datetime, settings: Settings,
                   summaries: list[dict[str, Any]], stages: list[str] | dict[str, float],
                   encoded: list[dict[str, Any]] | None = None,
                   linkage: dict[str, Any] | None = None,
                   published: dict[str, Any] | None = None,
                   handoff: dict[str, Any] | None = None,
                   delivery: dict[str, Any] | None = None,
                   audit: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest (``outputs`` fingerprints are added by the run folder on commit).

    ``published`` and ``handoff`` are the counts of :func:`publish_night` and
    :func:`identify_roster` (``handoff``: per recipient, file, rows and key fingerprint);
    ``delivery`` the completeness checks' figures (:func:`pipeline.delivery.preflight`);
    ``audit`` the audit stage's aggregate shares (:func:`audit_encoded`; None when the
    run had no audit stage). The ``audit`` part is checked against
    ``pipeline/schemas/manifest.schema.json`` (:func:`validate_manifest`)."""
    manifest = {
        "manifest_version": 1,
        "run_id": run_id,
        "night": night,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "software": {"sst_linkage": software_version(), "python": platform.python_version(),
                     "host_cpus": os.cpu_count()},
        "stages": list(stages),
        "stage_seconds": dict(stages) if isinstance(stages, dict) else {},
        "linkage_key_id": encoded[0]["key_id"] if encoded else None,
        "encoding_sha256": settings.encoding.sha256() if encoded else None,
        "encoded": {e["agency"]: {k: e[k] for k in ("file", "sha256", "records")}
                    for e in encoded or []},
        "inputs": {s["agency"]: {"file": s["file"], "sha256": s["sha256"]} for s in summaries},
        "config": settings.to_dict(),
        "config_sha256": settings.sha256(),
        "counts": {s["agency"]: {k: s[k] for k in (
            "rows_read", "rows_quarantined", "quarantined_share", "quarantine_by_reason",
            "records_out", "records_by_kind", "field_issues")} for s in summaries},
        "linkage": linkage,
        "roster": published,
        "identified_roster": {name: {**{k: r[k] for k in ("file", "rows", "fingerprint")},
                                     "format_version": r.get("format_version", 1),
                                     "signed_by": r.get("signer")}
                              for name, r in (handoff or {}).items()},
        "delivery": delivery,
        "audit": audit,
    }
    validate_manifest(manifest)
    return manifest


MANIFEST_SCHEMA = Path(__file__).resolve().parent / "schemas" / "manifest.schema.json"
"""JSON Schema (Draft 2020-12) of ``manifest.json``: every top-level field, and the
``audit`` section in full."""


def validate_manifest(manifest: dict[str, Any]) -> None:
    """Check a manifest against :data:`MANIFEST_SCHEMA`.

    Raises:
        RunFolderError: the first mismatch, with its JSON path (a bug: nothing is
            published).
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    validator = Draft202012Validator(json.loads(MANIFEST_SCHEMA.read_text()))
    errors = list(validator.iter_errors(manifest))
    if errors:
        e = best_match(errors)            # into anyOf (null or the section): the cause
        while e.context:
            e = best_match(e.context)
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise RunFolderError(f"the manifest does not match its schema: {e.message}",
                             where=f"manifest.json at {where}",
                             hint=f"{len(errors)} error(s); the schema is "
                                  f"{MANIFEST_SCHEMA.name}")


def summary_markdown(manifest: dict[str, Any], run_dir: Path) -> str:
    """A steward's summary of the run (Prefect artifact and CLI)."""
    lines = [f"# Nightly linkage {manifest['night']}", "",
             f"Run `{manifest['run_id']}`, folder `{run_dir}`, stages: " + ", ".join(
                 f"{st} {manifest['stage_seconds'][st]:.1f} s" if st in manifest.get(
                     "stage_seconds", {}) else st for st in manifest["stages"]) + ".", "",
             "| agency | rows read | quarantined | share | by reason | person records |",
             "|---|---:|---:|---:|---|---:|"]
    for agency, c in manifest["counts"].items():
        reasons = ", ".join(f"{r} {n:,}" for r, n in c["quarantine_by_reason"].items()) or "-"
        lines.append(f"| {agency} | {c['rows_read']:,} | {c['rows_quarantined']:,} | "
                     f"{100 * c['quarantined_share']:.2f} % | {reasons} | "
                     f"{c['records_out']:,} |")
    link, roster = manifest.get("linkage"), manifest.get("roster")
    if link:
        c, t = link["counts"], link["threshold"]
        lines += ["", f"**Linkage:** {c['records']:,} records, {c['persons']:,} persons, "
                  f"{c['families']:,} families, {c['multi_system_families']:,} multi-system "
                  f"families ({c['multi_system_records']:,} records). Threshold "
                  f"{t['threshold']:.3f}, estimated precision {t['est_precision']:.3f}, "
                  f"recall {t['est_recall']:.3f}."]
    if roster:
        f = roster["family_ids"]
        lines += ["", f"**Roster:** {roster['rows']:,} records in {roster['families']:,} "
                  f"families. Ids of all {f['groups']:,} families of the night, since "
                  f"{roster['previous_run'] or 'no earlier run'}: {f['kept']:,} kept, "
                  f"{f['new']:,} new, {f['retired']:,} retired. "
                  f"Community counts: {roster['community_cells_withheld']} of "
                  f"{roster['community_cells']} cells withheld."]
    audit = manifest.get("audit")
    if audit:
        over = audit["over_limit"]
        lines += ["", f"**Privacy audit** ({audit['records_attacked']:,} of "
                  f"{audit['night_records']:,} records attacked, limit "
                  f"{100 * audit['limit']:.2f} %): " + (
                      f"{len(over)} field(s) or rule(s) over the limit, worst "
                      + ", ".join(f"{o['name']} {100 * o['share_records']:.1f} %"
                                  for o in over[:5]) + "." if over
                      else "no field or blocking rule over the limit.")]
    html = Path(run_dir).resolve() / "match_quality.html"
    if html.exists():
        lines += ["", f"**Match-quality report** for analysts: [match_quality.html]"
                  f"({html.as_uri()}) (`{html}`), with its figures in `match_quality.json`."]
    if "identified_roster" in manifest:
        who = ", ".join(f"{n} ({r['rows']:,} rows, "
                        + (f"signed by pipeline key {r['signed_by']})" if r.get("signed_by")
                           else "UNSIGNED: set handoff.signing_key)")
                        for n, r in manifest["identified_roster"].items())
        lines += ["", f"**Identified roster** (encrypted): {who or 'no recipients configured'}."]
    return "\n".join(lines) + "\n"




def link_night(encoded: dict[str, Path], settings: Settings, out_dir: Path,
               progress: Progress = NO_PROGRESS) -> dict[str, Any]:
    """The link stage: reads only the encoded extracts, writes into ``out_dir``:

    * ``linkage_records.parquet``: one row per record, ``agency``, ``record_id``,
      ``record_kind``, ``person`` and ``family`` (this night's cluster numbers), ``systems``,
      ``multi_system``, ``community`` and ``link_probability`` (de-identified);
    * ``linkage_pairs.parquet``: every candidate pair, ``left`` and ``right`` (row numbers
      in ``linkage_records.parquet``), ``probability`` and ``weight`` (de-identified; for
      the report and for judging the estimates against a synthetic truth);
    * ``linkage_model.json``: the fitted model, the threshold with its estimated precision
      and recall and the curve around it, blocking statistics, pair counts, step timings,
      a histogram of candidate pairs' match weights (all and linked) and the links kept
      by agency pair (for the report).

    ``progress`` is told as each step of :data:`linkage.link.STEPS` ends (``step`` events).

    Returns:
        Counts, the threshold and the timings (no identifiers).
    """
    night = read_night(encoded)
    started = [time.perf_counter()]

    def on_step(step: str, done: int, total: int, counts: dict[str, int]) -> None:
        now = time.perf_counter()
        progress.emit(Event("step", "link", step, done=done, total=total, counts=counts,
                            seconds=round(now - started[0], 3)))
        started[0] = now

    result = link_records(night, settings.linkage, on_step=on_step)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(result.records, preserve_index=False)
    pq.write_table(table, out_dir / LINKAGE_RECORDS)
    pq.write_table(pa.Table.from_pandas(result.candidates, preserve_index=False),
                   out_dir / LINKAGE_PAIRS, compression="zstd")
    summary = {"counts": result.counts(), "threshold": result.threshold,
               "pairs": result.pairs, "seconds": result.seconds}
    model = {**summary, "model": result.model.to_json(), "curve": result.curve,
             "blocking": result.blocking, "weight_histogram": result.histogram,
             "links_by_agency_pair": result.links_by_agency_pair}
    (out_dir / LINKAGE_MODEL).write_text(json.dumps(model, indent=2, default=float) + "\n")
    return summary


COMMUNITY_COUNTS = "community_counts.csv"
IDENTIFIED_COLUMNS: tuple[str, ...] = (
    "family_id", "person_id", "agency", "record_id", "record_kind", "relationship",
    "systems", "community", "link_probability", "first_name", "middle_name", "last_name",
    "name_suffix", "dob", "sex", "addr_street", "addr_unit", "addr_city", "addr_state",
    "addr_zip5")
"""Columns of the identified roster program staff decrypt (names, birth dates, addresses
joined on the agency side; no SSN: staff find the family by name and address)."""


def published_communities(crosswalk: Path) -> list[str]:
    """The communities of ``community_counts.csv``, in order: the crosswalk's, then the
    fallbacks. Every one always has its rows: a row that appeared only when it had
    families would publish whether its count is 0."""
    return [*sorted(set(load_crosswalk(crosswalk).values())), OTHER_MARYLAND, OUT_OF_STATE,
            UNKNOWN]


def publish_night(run_dir: Path, root: Path, night: str, settings: Settings
                  ) -> dict[str, Any]:
    """The publish stage on the linkage side: from ``linkage_records.parquet`` in
    ``run_dir`` write ``shared_family_roster.parquet`` (stable ids), ``id_state.parquet``
    (the ids' state for the next night) and ``community_counts.csv`` (suppressed).

    Args:
        run_dir: the run's (partial) folder, holding the link stage's outputs.
        root: the output root (state key, earlier runs).
        night: ``YYYYMMDD``.
        settings: run settings (crosswalk, suppression threshold).

    Returns:
        Counts only: roster rows, persons and families, id carry-over, cells published and
        withheld.
    """
    faults.check_staged(run_dir / LINKAGE_RECORDS, (
        "agency", "record_id", "record_kind", "person", "family", "systems", "multi_system",
        "community", "link_probability"), "link")
    records = pd.read_parquet(run_dir / LINKAGE_RECORDS)
    roster, state, counts = build_roster(records, root, night)
    pq.write_table(roster, run_dir / ROSTER)
    pq.write_table(state, run_dir / ID_STATE)
    families = roster.to_pandas()[["family_id", "community", "systems"]] \
        .drop_duplicates("family_id")
    table = suppression.community_table(
        families, published_communities(settings.communities.crosswalk_path))
    published = suppression.suppress(table, settings.publish.suppression_threshold)
    suppression.to_csv_frame(published).to_csv(run_dir / COMMUNITY_COUNTS, index=False)
    withheld = int(published["suppressed"].sum())
    return {**counts, "community_cells": len(published), "community_cells_withheld": withheld}


def identify_roster(roster: Path, staging: Path, night: str, settings: Settings,
                    out_dir: Path, run_id: str = "") -> dict[str, Any]:
    """The agency side's handoff: join names, birth dates and addresses to the roster's
    records and encrypt the result to each recipient in ``handoff.recipients``, streamed
    in chunks (no identified roster is ever written in the clear).

    Args:
        roster: ``shared_family_roster.parquet``.
        staging: the agency-side staging folder with the night's person frames.
        night: ``YYYYMMDD``.
        settings: run settings (recipients, chunk size).
        out_dir: where ``identified_roster.<recipient>.enc`` go (the run folder).
        run_id: the run, which a signed roster names (with the night).

    Returns:
        Per recipient: file name, size, SHA-256, key fingerprint and rows (no identifiers).
    """
    recipients = settings.handoff.recipient_paths()
    if not recipients:
        return {}
    keys = pq.read_table(roster).to_pandas()
    wanted = [c for c in IDENTIFIED_COLUMNS if c not in keys.columns or c in (
        "agency", "record_id")]
    frames = []
    for agency in AGENCIES:
        ids = keys.loc[keys["agency"] == agency, "record_id"]
        persons = pq.read_table(persons_path(staging, agency, night), columns=wanted)
        persons = persons.filter(pc.is_in(persons["record_id"], pa.array(ids.to_numpy(
            dtype=object), type=pa.string())))
        frames.append(persons.to_pandas(ignore_metadata=True))
    people = pd.concat(frames, ignore_index=True)
    people["dob"] = people["dob"].dt.strftime("%Y-%m-%d")
    identified = keys.merge(people, on=["agency", "record_id"], how="left",
                            validate="one_to_one")[list(IDENTIFIED_COLUMNS)]
    signing = settings.handoff.signing_key_path()
    signer = handoff.load_signer(signing, run_id, night) if signing is not None else None
    return handoff.encrypt_frame(identified, recipients, out_dir,
                                 chunk_rows=settings.handoff.chunk_rows, signer=signer)
