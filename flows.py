"""Prefect flows of sst-linkage: ``nightly_linkage`` (what a data steward schedules).

The flow body reads as the pipeline; the work is in :mod:`pipeline.nightly`. Tasks that
touch PII run with result persistence and caching off and pass paths, never frames; task
parameters, logs, results and artifacts hold only paths, agency names and counts.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from data_contracts import AGENCIES, SstError
from hashing.audit.stage import audit_markdown
from linkage.link import STEPS as LINK_STEPS
from pipeline import delivery, faults, nightly, progress
from pipeline.config import load_settings
from pipeline.report import REPORT_HTML, headline_markdown, threshold_markdown, write_report
from pipeline.run_folder import RunFolder


class _OneLineSstErrors(logging.Filter):
    """Prefect logs a failing task's or flow's exception with its traceback. For our own
    expected errors (``SstError``: a missing file, a bad key file, the quarantine limit)
    the one-line message is the whole story: keep it, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], SstError):
            record.exc_info = None          # the message already names the error
            record.exc_text = None
        return True


for _name in ("prefect.flow_runs", "prefect.task_runs"):
    logging.getLogger(_name).addFilter(_OneLineSstErrors())


def _progress() -> progress.Progress:
    """The run's events (:mod:`pipeline.progress`) into this flow or task run's Prefect log,
    and to the command line's display when ``sst-link`` runs the flow."""
    return progress.Fanout(progress.PrefectLog(get_run_logger()), progress.current())


def _retry_io_only(task: Any, task_run: Any, state: Any) -> bool:
    """Retry on operating-system errors that may heal (a share that blinked), not on
    contract errors, a full disk, a missing permission or a vanished file."""
    try:
        state.result()
    except Exception as exc:
        return faults.transient(exc)
    return False


@task(name="ingest", persist_result=False, cache_policy=NONE, retries=2,
      retry_delay_seconds=[2, 10], retry_condition_fn=_retry_io_only)
def ingest(extract: str, agency: str, night: str, config: str | None, staging: str
           ) -> dict[str, Any]:
    """Read one agency extract through its contract into the staging folder."""
    summary = nightly.ingest_agency(Path(extract), agency, night, load_settings(config),
                                    Path(staging), _progress())
    reasons = ", ".join(f"{r} {n}" for r, n in summary["quarantine_by_reason"].items())
    get_run_logger().info("%s: %s rows read, %s quarantined (%s), %s person records",
                          agency, summary["rows_read"], summary["rows_quarantined"],
                          reasons or "none", summary["records_out"])
    return summary


@task(name="encode", persist_result=False, cache_policy=NONE, retries=2,
      retry_delay_seconds=[2, 10], retry_condition_fn=_retry_io_only)
def encode(persons: str, agency: str, night: str, config: str | None, out_dir: str
           ) -> dict[str, Any]:
    """Encode one agency's staged person records with the linkage key."""
    result = nightly.encode_agency(Path(persons), agency, night, load_settings(
        Path(config) if config else None), Path(out_dir), _progress())
    get_run_logger().info("%s: %s records encoded into %s (key %s)", agency,
                          result["records"], result["file"], result["key_id"])
    return result


@task(name="audit", persist_result=False, cache_policy=NONE, retries=1,
      retry_delay_seconds=[5], retry_condition_fn=_retry_io_only)
def audit(staging: str, encoded: dict[str, str], night: str, config: str | None
          ) -> dict[str, Any]:
    """Agency side: attack the night's encoded extracts as the linkage side could and score
    the attacks against the staged person frames (PII: paths in, aggregate shares out)."""
    result = nightly.audit_encoded(Path(staging), {a: Path(p) for a, p in encoded.items()},
                                   night, load_settings(Path(config) if config else None))
    get_run_logger().info(
        "privacy audit: %s of %s records attacked, %s field(s) or rule(s) over the %.2f %% "
        "limit (%.1f s)", result["records_attacked"], result["night_records"],
        len(result["over_limit"]), 100 * result["limit"], result["seconds"])
    return result


@task(name="link", persist_result=False, cache_policy=NONE, retries=1,
      retry_delay_seconds=[5], retry_condition_fn=_retry_io_only)
def link(encoded: dict[str, str], config: str | None, out_dir: str) -> dict[str, Any]:
    """Link the night's encoded extracts (never a raw one) into persons and families."""
    summary = nightly.link_night({a: Path(p) for a, p in encoded.items()},
                                 load_settings(Path(config) if config else None),
                                 Path(out_dir), _progress())
    c, t = summary["counts"], summary["threshold"]
    get_run_logger().info(
        "%s records: %s persons, %s families, %s multi-system families (%s records); "
        "threshold %.3f, estimated precision %.3f, recall %.3f", c["records"], c["persons"],
        c["families"], c["multi_system_families"], c["multi_system_records"],
        t["threshold"], t["est_precision"], t["est_recall"])
    return summary


@task(name="publish", persist_result=False, cache_policy=NONE, retries=1,
      retry_delay_seconds=[5], retry_condition_fn=_retry_io_only)
def publish(run_dir: str, root: str, night: str, config: str | None) -> dict[str, Any]:
    """Linkage side: the de-identified roster with stable ids and the suppressed counts."""
    summary = nightly.publish_night(Path(run_dir), Path(root), night,
                                    load_settings(Path(config) if config else None))
    f = summary["family_ids"]
    get_run_logger().info(
        "roster: %s records, %s persons, %s multi-system families; ids of all %s families: "
        "%s kept, %s new, %s retired since %s; community counts: %s of %s cells withheld",
        summary["rows"], summary["persons"], summary["families"], f["groups"], f["kept"],
        f["new"], f["retired"], summary["previous_run"] or "no earlier run",
        summary["community_cells_withheld"], summary["community_cells"])
    return summary


@task(name="handoff", persist_result=False, cache_policy=NONE, retries=1,
      retry_delay_seconds=[5], retry_condition_fn=_retry_io_only)
def handoff(roster: str, staging: str, night: str, config: str | None, out_dir: str,
            run_id: str = "") -> dict[str, Any]:
    """Agency side: identified roster encrypted to each recipient (never in the clear),
    signed by the pipeline when a signing key is set."""
    result = nightly.identify_roster(Path(roster), Path(staging), night,
                                     load_settings(Path(config) if config else None),
                                     Path(out_dir), run_id)
    logger = get_run_logger()
    if not result:
        logger.info("no recipients in handoff.recipients: no identified roster written")
    for name, r in result.items():
        logger.info("identified roster for %s: %s rows in %s (recipient key %s, %s)", name,
                    r["rows"], r["file"], r["fingerprint"],
                    f"signed by pipeline key {r['signer']}" if r.get("signer")
                    else "UNSIGNED: set handoff.signing_key")
    return result


@task(name="report", persist_result=False, cache_policy=NONE, retries=1,
      retry_delay_seconds=[5], retry_condition_fn=_retry_io_only)
def report(run_dir: str, manifest: dict[str, Any], truth: str | None) -> dict[str, Any]:
    """The analysts' match-quality report (counts and model figures only; no identifiers)."""
    summary = write_report(Path(run_dir), manifest, truth=Path(truth) if truth else None)
    logger = get_run_logger()
    logger.info("match-quality report: %s flag(s) to look at; threshold %.3f, estimated "
                "precision %.3f, recall %.3f", summary["flags"], summary["threshold"],
                summary["est_precision"], summary["est_recall"])
    if "measured" in summary:
        m = summary["measured"]
        logger.info("against the synthetic truth: measured pairwise precision %.3f, recall "
                    "%.3f at the threshold", m["measured_precision"], m["measured_recall"])
    return summary


@flow(name="agency_encode", persist_result=False, log_prints=False)
def agency_encode(extract: str, agency: str, out: str, night: str | None = None,
                  config: str | None = None) -> dict[str, Any]:
    """What one agency runs on its own side: contract, then encoding.

    Writes ``encoded_<agency>_<night>.parquet`` and ``quarantine_<agency>_<night>.csv``
    into ``out``: all the agency sends to the linkage side.

    Args:
        extract: the agency's extract file.
        agency: ``DHS``, ``DJS`` or ``DPSCS``.
        out: folder for the encoded extract and its quarantine list.
        night: ``YYYYMMDD``; default from the file name.
        config: TOML file overriding ``configs/default.toml``.

    Returns:
        Counts and the encoded file's fingerprint.
    """
    settings = load_settings(Path(config) if config else None)
    nightly.load_key(settings)                              # fail before reading data
    night = night or nightly.night_of(Path(extract))
    Path(out).mkdir(parents=True, exist_ok=True)
    shown = _progress()
    with nightly.agency_staging(Path(out)) as staging:
        with progress.timed(shown, "ingest", total=1) as done:
            summary = ingest(extract, agency, night, config, str(staging))
            nightly.check_quarantine_limits([summary], settings.ingest.quarantine_limit)
            done.update(nightly.stage_counts("ingest", [summary]))
        with progress.timed(shown, "encode", total=1) as done:
            result = encode(str(nightly.persons_path(staging, agency, night)), agency,
                            night, config, out)
            done.update(nightly.stage_counts("encode", [result]))
        nightly.publish_file(nightly.quarantine_path(staging, agency, night),
                             Path(out) / f"quarantine_{agency}_{night}.csv")
    return {**summary, "encoded": result}


@flow(name="nightly_linkage", persist_result=False, log_prints=False)
def nightly_linkage(extracts: str, out: str, night: str | None = None,
                    config: str | None = None, truth: str | None = None,
                    key_rotated_from: str | None = None,
                    accept_volume_change: list[str] | None = None,
                    force: bool = False) -> dict[str, Any]:
    """One night: ingest, encode, audit and link the three agency extracts; write the run
    folder. The audit stage (``[audit] every_run``) runs on the agency side after encode;
    a field or blocking rule over ``audit.limit`` is a warning (log, manifest, report,
    the ``privacy-audit`` artifact), or with ``audit.strict`` stops the run before link
    with nothing published.

    Args:
        extracts: folder with ``dhs_clients_<night>.csv``, ``djs_youth_<night>.txt`` and
            ``dpscs_offenders_<night>.parquet``.
        out: output root; the run folder is ``<out>/<run id>/``.
        night: ``YYYYMMDD``; default the newest complete night (all three extracts present
            and none still being written).
        config: TOML file overriding ``configs/default.toml``.
        truth: a synthetic night's ``truth/`` folder: the report then also shows measured
            precision and recall beside the model's estimates (synthetic nights only).
        key_rotated_from: the key id tonight's linkage key replaces (a declared rotation);
            without it a key other than the last run's stops the night.
        accept_volume_change: agencies whose drop in rows since the last night the steward
            accepts (otherwise a drop beyond ``delivery.max_drop`` stops the night).
        force: run a night that is already published.

    Returns:
        ``run_dir``, ``run_id`` and the manifest's counts; with nothing new (the night is
        already published from the same files) only ``run_dir``, ``run_id``, ``night``
        and ``nothing_new``, the message.
    """
    logger = get_run_logger()
    started = datetime.now(UTC)
    settings = load_settings(Path(config) if config else None)
    key = nightly.load_key(settings)                        # fail before reading data
    plan = delivery.preflight(Path(extracts), Path(out), night, settings, key.key_id,
                              key_rotated_from, accept_volume_change, force)
    logger.info("%s", plan.note)
    if plan.published is not None:
        return {"run_dir": str(plan.published), "run_id": plan.published.name,
                "night": plan.night, "nothing_new": plan.note}
    night, paths = plan.night, plan.paths
    faults.check_free_space(Path(out), paths.values())       # before anything is written
    with RunFolder(Path(out), night, lock_wait_seconds=settings.run.lock_wait_seconds,
                   keep_staging=settings.run.keep_staging) as run:
        logger.info("run %s for night %s", run.run_id, night)
        clock = nightly.StageClock(_progress())     # each stage's start and end, counts
        with clock("ingest", len(AGENCIES)) as done:
            summaries = [ingest(str(paths[a]), a, night, config, str(run.staging))
                         for a in AGENCIES]
            nightly.check_quarantine_limits(summaries, settings.ingest.quarantine_limit)
            done.update(nightly.stage_counts("ingest", summaries))
        with clock("encode", len(AGENCIES)) as done:
            encoded = [encode(str(nightly.persons_path(run.staging, a, night)), a, night,
                              config, str(run.exchange)) for a in AGENCIES]
            nightly.check_same_key(encoded, key.key_id)
            nightly.publish_quarantine(run.staging, night, run.partial / "quarantine.csv")
            done.update(nightly.stage_counts("encode", encoded))
        audited = None
        if settings.audit.every_run:
            with clock("audit") as done:
                audited = audit(str(run.staging), {e["agency"]: str(run.exchange / e["file"])
                                                   for e in encoded}, night, config)
                done.update(nightly.stage_counts("audit", audited))
                create_markdown_artifact(
                    markdown=audit_markdown(audited, night), key="privacy-audit",
                    description="Privacy audit: share of records each attack re-identifies "
                                "per field and blocking rule (aggregate shares only)")
                over = nightly.check_audit_limit(audited, settings)   # strict: stops here
                if over:
                    logger.warning("privacy audit: %s field(s) or rule(s) over the %.2f %% "
                                   "limit: %s", len(over), 100 * settings.audit.limit,
                                   "; ".join(over))
        with clock("link", len(LINK_STEPS)) as done:
            linkage = link({e["agency"]: str(run.exchange / e["file"]) for e in encoded},
                           config, str(run.partial))
            done.update(nightly.stage_counts("link", linkage))
        with clock("publish") as done:
            published = publish(str(run.partial), out, night, config)
            done.update(nightly.stage_counts("publish", published))
        with clock("handoff") as done:
            handed = handoff(str(run.partial / nightly.ROSTER), str(run.staging), night,
                             config, str(run.partial), run.run_id)
            done.update(nightly.stage_counts("handoff", handed))
        def manifest_now() -> dict[str, Any]:
            return nightly.build_manifest(
                run_id=run.run_id, night=night, started=started, settings=settings,
                summaries=summaries, stages=clock.seconds, encoded=encoded,
                linkage=linkage, published=published, handoff=handed,
                delivery=plan.record, audit=audited)

        with clock("report") as done:
            quality = report(str(run.partial), manifest_now(), truth)
            done.update(nightly.stage_counts("report", quality))
        manifest = manifest_now()
        run_dir = run.commit(manifest)
    quality_report = run_dir / REPORT_HTML
    create_markdown_artifact(markdown=nightly.summary_markdown(manifest, run_dir),
                             key="nightly-linkage-summary",
                             description="Rows read and quarantined per agency, linkage, "
                                         "roster and handoff counts")
    report_json = json.loads((run_dir / "match_quality.json").read_text())
    create_markdown_artifact(markdown=headline_markdown(report_json),
                             key="match-quality-headline",
                             description=f"Match-quality headline; the report: {quality_report}")
    create_markdown_artifact(markdown=threshold_markdown(report_json),
                             key="match-quality-threshold",
                             description="Estimated precision and recall around the threshold")
    logger.info("run folder %s complete", run_dir)
    return {"run_dir": str(run_dir), "run_id": manifest["run_id"], "counts": manifest["counts"],
            "key_id": manifest["linkage_key_id"], "encoded": manifest["encoded"],
            "linkage": linkage, "roster": published,
            "identified_roster": manifest["identified_roster"],
            "suppression_threshold": settings.publish.suppression_threshold,
            "report": quality, "audit": audited}


DEPLOYMENT = "nightly"
"""Name of the scheduled deployment of ``nightly_linkage``."""


def nightly_deployment(config: str | None = None) -> Any:
    """The nightly deployment a steward serves: ``[schedule]`` cron in its time zone, one
    run at a time (a late run queues behind the one going instead of overlapping it).

    Raises:
        ConfigError: ``schedule.extracts`` or ``schedule.out`` not set, or the time zone
            or cron expression is not valid.
    """
    from zoneinfo import ZoneInfo

    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.schedules import Cron

    from data_contracts import ConfigError

    settings = load_settings(Path(config) if config else None)
    sched = settings.schedule
    for name in ("extracts", "out"):
        if not getattr(sched, name):
            raise ConfigError(f"schedule.{name} is not set", where=f"schedule.{name}",
                              hint="set the delivery folder (extracts) and the output root "
                                   "(out) in a --config file before serving")
    try:
        ZoneInfo(sched.timezone)
        schedule = Cron(sched.cron, timezone=sched.timezone)
    except Exception as exc:    # croniter / zoneinfo raise several kinds
        raise ConfigError(f"schedule is not valid ({type(exc).__name__})",
                          where="schedule.cron / schedule.timezone",
                          hint='for example cron = "0 2 * * *", timezone = '
                               '"America/New_York"') from None
    params: dict[str, Any] = {"extracts": str(Path(sched.extracts).resolve()),
                              "out": str(Path(sched.out).resolve())}
    if config:
        params["config"] = str(Path(config).resolve())
    return nightly_linkage.to_deployment(
        name=DEPLOYMENT, schedules=[schedule], parameters=params,
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy="ENQUEUE"),
        description="The nightly Safer Stronger Together linkage run.",
        tags=["sst-linkage"])


def serve(config: str | None = None) -> None:  # pragma: no cover - runs until stopped
    """Register the nightly deployment with the Prefect server (``PREFECT_API_URL``) and
    run its flow runs from this process until stopped (Ctrl-C)."""
    from prefect import serve as prefect_serve

    prefect_serve(nightly_deployment(config), limit=1)


if __name__ == "__main__":  # pragma: no cover
    import sys

    from pipeline.cli import main

    args = sys.argv[1:]
    sys.exit(main(args if args[:1] == ["serve"] else ["run", *args]))
