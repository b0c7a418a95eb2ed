"""``sst-link``: the command line of sst-linkage.

Every expected failure (:class:`data_contracts.SstError`, or an ``OSError``: a full disk, a
permission, a vanished file) prints as one line on stderr, the last, and exits with status
2 (``sst-link --debug`` shows its traceback instead); anything else is a bug and shows its
traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from data_contracts import SstError
from pipeline.synth.profiles import PROFILES

app = typer.Typer(
    name="sst-link", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False, rich_markup_mode="markdown",
    help="Nightly privacy-preserving record linkage for Safer Stronger Together.")
out = Console()
err = Console(stderr=True)


_debug = {"on": False}
"""``sst-link --debug``: show the traceback of an expected error too."""


def _one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Expected errors (an SstError, or an OSError: the machine's fault) as one last line
    on stderr and status 2; with --debug, the traceback instead."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SstError, OSError) as exc:
            if _debug["on"]:
                raise
            from pipeline.faults import os_error, silence_prefect

            line = (exc if isinstance(exc, SstError) else os_error(exc)).one_line()
            if "prefect" in sys.modules:
                silence_prefect()
            err.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
    return wrapper


Config = Annotated[Optional[Path], typer.Option(
    help="TOML file overriding configs/default.toml (only the keys it names).")]
def _night(default: str) -> Any:
    return Annotated[Optional[str], typer.Option(
        help=f"Night of the extracts as YYYYMMDD (default: {default}).")]


Night = _night("the newest night present with all three extracts, none still being "
               "written")
SynthNight = _night("20261125")
FileNight = _night("the night in the extract's file name")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            out.print(f"sst-link {version('sst-linkage')}", highlight=False)
        except PackageNotFoundError:     # pragma: no cover - run from a source tree
            out.print("sst-link (not installed)", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and exit.")] = False,
        debug: Annotated[bool, typer.Option(
            "--debug", help="On an error, show its traceback instead of the one line "
                            "(`sst-link --debug run ...`).")] = False) -> None:
    """Nightly privacy-preserving record linkage for Safer Stronger Together."""
    _debug["on"] = debug


@app.command()
@_one_line_errors
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the extracts and "
                                          "truth/ into (created if missing).")],
    seed: Annotated[int, typer.Option(help="Seed of the synthetic population.")] = 7,
    scale: Annotated[str, typer.Option(help="small (~20k records), medium (~200k) or "
                                       "large (~2M, statewide).")] = "small",
    night: SynthNight = None,
    profile: Annotated[str, typer.Option(help="Synthetic population: " + "; ".join(
        f"{p.name} ({p.description})" for p in PROFILES.values()) + ".")] = "baseline",
) -> None:
    """Write a synthetic night of the three agency extracts, with ground truth."""
    from pipeline.synth import SCALES, generate_night

    if scale not in SCALES:
        raise SstError(f"unknown scale {scale!r}", where="--scale",
                       hint="use small, medium or large")
    if profile not in PROFILES:
        raise SstError(f"unknown profile {profile!r}", where="--profile",
                       hint="use " + ", ".join(PROFILES))
    from data_contracts import parse_night

    night = night or "20261125"
    parse_night(night)
    summary = generate_night(out_dir, seed=seed, scale=scale, night=night, profile=profile)
    out.print(f"synthetic night {night} ({profile}) written to [bold]{escape(str(out_dir))}[/]: "
              f"{summary['records_total']:,} person records, "
              f"{summary['multi_system_families']:,} multi-system families, "
              f"{sum(summary['dirty_rows'].values()):,} dirty rows (truth/ has the answers)",
              highlight=False)


@app.command()
@_one_line_errors
def run(
    extracts: Annotated[Path, typer.Option(help="Folder holding the three agency extracts.")],
    out_root: Annotated[Path, typer.Option("--out", help="Output root; the run folder is "
                                           "`OUT/<run id>/`.")],
    config: Config = None,
    night: Night = None,
    truth: Annotated[Optional[Path], typer.Option(help="Synthetic truth/ folder: also print "
                                                  "how the run compares with it, and put the "
                                                  "measured figures in the report.")] = None,
    key_rotated_from: Annotated[Optional[str], typer.Option(
        help="Declare that tonight's linkage key replaces the key with this id (the last "
             "run's); without it a run with another key than the last run's stops, as its "
             "encodings could not be compared with last night's.")] = None,
    accept_volume_change: Annotated[Optional[list[str]], typer.Option(
        metavar="AGENCY", help="Accept that this agency's rows fell by more than "
        "delivery.max_drop since the last night (repeatable); without it such a drop "
        "stops the night, as the extract may be cut short.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Run the night even if it is already published in OUT.")] = False,
) -> None:
    """Run the nightly_linkage Prefect flow (embedded Prefect unless PREFECT_API_URL is set).

    The linkage key is read from the file that encoding.key_file in the config or the
    SST_LINKAGE_KEY_FILE environment variable names (`sst-link keygen` makes one).

    The run says which night it picked. An extract still being written, one that does not
    match its control file `<extract>.ctl`, ends mid-row, or has fewer rows than the last
    night by more than delivery.max_drop stops the night with status 2. A night already
    published from the same files is "nothing new": one line saying where, exit status 0
    (a nightly cron raises no alarm); from other files, status 2 unless --force.

    The output root's file system must have 8 times the extracts' size free; a disk that
    fills anyway, a missing permission or a file that vanishes stops the run in one line
    (status 2) with nothing published.

    As it goes, the run prints each stage's start and end (per agency, and each link step)
    with counts: on a terminal above a progress bar (on stderr), otherwise one line per event
    on stdout, `[02:00:41] ingest DHS: 14,905 rows, 253 quarantined, 14,652 records (1.0 s)`.
    The Prefect log gets the same lines.

    After encode, an audit stage (audit.every_run) attacks the night's encodings as the
    linkage side could, on a sample of audit.run_records records (`sst-link audit` is the
    full audit); its shares go into the manifest, the report and a Prefect artifact. A field
    or blocking rule over audit.limit prints one warning line; with audit.strict it stops
    the run in one line, status 2, nothing published."""
    from pipeline.config import load_settings
    from pipeline.delivery import preflight
    from pipeline.nightly import load_key

    # config, key, extracts, key continuity and the delivery's completeness fail here,
    # before Prefect starts its server
    settings = load_settings(config)
    key = load_key(settings)
    plan = preflight(extracts, out_root, night, settings, key.key_id, key_rotated_from,
                     accept_volume_change, force)
    out.print(escape(plan.note), highlight=False, soft_wrap=True)
    if plan.published is not None:
        return
    from pipeline.faults import check_free_space, os_error, quiet_prefect_console

    need = check_free_space(out_root, plan.paths.values())
    from flows import nightly_linkage
    from pipeline.progress import console_display

    quiet_prefect_console()         # a failure is this command's one line, not Prefect's
    try:
        with console_display(out, err):     # stage lines; a progress bar on a terminal
            result = nightly_linkage(str(extracts), str(out_root), plan.night,
                                     str(config) if config else None,
                                     str(truth) if truth else None, key_rotated_from,
                                     accept_volume_change, force)
    except OSError as exc:      # no space, no permission, a file gone: one line
        raise os_error(exc, out_root, need=need, published=True) from exc
    _print_run(result, truth)


def _print_run(result: dict[str, Any], truth: Optional[Path]) -> None:
    table = Table(title=f"run {result['run_id']}")
    for col in ("agency", "rows read", "quarantined", "by reason", "person records"):
        table.add_column(col, justify="left" if col in ("agency", "by reason") else "right")
    for agency, c in result["counts"].items():
        table.add_row(agency, f"{c['rows_read']:,}", f"{c['rows_quarantined']:,}",
                      ", ".join(f"{r} {n:,}" for r, n in c["quarantine_by_reason"].items())
                      or "-", f"{c['records_out']:,}")
    out.print(table)
    run_dir = Path(result["run_dir"])
    encoded = result.get("encoded") or {}
    if encoded:
        out.print(f"encoded with key {result['key_id']}: " + ", ".join(
            f"{a} {e['records']:,}" for a, e in encoded.items()) + " records", highlight=False)
    linkage = result.get("linkage")
    if linkage:
        c, t = linkage["counts"], linkage["threshold"]
        out.print(f"linked {c['records']:,} records into {c['persons']:,} persons and "
                  f"{c['families']:,} families; {c['multi_system_families']:,} multi-system "
                  f"families ({c['multi_system_records']:,} records: " + ", ".join(
                      f"{k} {v:,}" for k, v in c["by_systems"].items()) + ")",
                  highlight=False)
        out.print(f"threshold {t['threshold']:.3f} ({t['chosen']}): the model estimates "
                  f"precision {t['est_precision']:.3f} and recall {t['est_recall']:.3f} of "
                  f"its {t['links']:,} pairwise links", highlight=False)
    roster = result.get("roster")
    if roster:
        f = roster["family_ids"]
        out.print(f"roster: {roster['rows']:,} records of {roster['families']:,} multi-system "
                  f"families; ids of all {f['groups']:,} families of the night since "
                  f"{roster['previous_run'] or 'no earlier run'}: {f['kept']:,} kept, "
                  f"{f['new']:,} new, {f['retired']:,} retired; "
                  f"community counts: {roster['community_cells_withheld']} of "
                  f"{roster['community_cells']} cells withheld (below "
                  f"{result['suppression_threshold']} or complementary)", highlight=False)
    for name, r in (result.get("identified_roster") or {}).items():
        out.print(f"identified roster for {name}: {r['rows']:,} rows, encrypted to key "
                  f"{r['fingerprint']} ({r['file']})", highlight=False)
    audited = result.get("audit")
    if audited:
        from hashing.audit.stage import over_limit_line

        line = over_limit_line(audited)
        if line:
            err.print(f"[bold yellow]warning:[/] {escape(line)}", highlight=False,
                      soft_wrap=True)
        else:
            out.print(f"privacy audit: no field or blocking rule over the "
                      f"{100 * audited['limit']:.2f} % limit", highlight=False)
    q = result.get("report")
    if q:
        out.print(f"match-quality report: {run_dir / 'match_quality.html'} ({q['flags']} "
                  f"flag(s) to look at)", highlight=False)
        if "measured" in q:
            m = q["measured"]
            out.print(f"the model's pairwise estimates at the threshold against the truth: "
                      f"precision {q['est_precision']:.3f} estimated, "
                      f"{m['measured_precision']:.3f} measured; recall "
                      f"{q['est_recall']:.3f} estimated, {m['measured_recall']:.3f} measured",
                      highlight=False)
    out.print(f"run folder: [bold]{run_dir}[/] (" + ", ".join(
        sorted(p.name for p in run_dir.iterdir())) + ")", highlight=False)
    if truth is not None:
        from pipeline.evaluate import LEVELS, linkage_vs_truth, quarantine_vs_truth

        ev = quarantine_vs_truth(run_dir / "quarantine.csv", truth)["ALL"]
        out.print(f"against the synthetic truth: {ev['caught']:,} of {ev['dirty']:,} planted "
                  f"dirty rows quarantined ({100 * ev['caught_share']:.2f} %), "
                  f"{100 * ev['right_reason_share']:.2f} % with the right reason, "
                  f"{ev['legitimate_quarantined']:,} legitimate rows quarantined",
                  highlight=False)
        if linkage:
            import pandas as pd

            lv = linkage_vs_truth(pd.read_parquet(run_dir / "linkage_records.parquet"),
                                  pd.read_parquet(Path(truth) / "records.parquet"))
            table = Table(title="linkage against the synthetic truth")
            for col in ("level", "precision", "recall", "F1"):
                table.add_column(col, justify="left" if col == "level" else "right")
            for level, label in LEVELS:
                v = lv[level]
                table.add_row(label, f"{v['precision']:.4f}", f"{v['recall']:.4f}",
                              f"{v['f1']:.4f}")
            out.print(table)
            f = lv["multi_system_families"]
            out.print(f"multi-system families: {f['true']:,} true, {f['found']:,} found",
                      highlight=False)


@app.command()
@_one_line_errors
def keygen(
    out_path: Annotated[Path, typer.Option("--out", help="Key file to create (mode 0600; "
                                           "an existing file is never overwritten).")],
    signing: Annotated[bool, typer.Option(
        "--signing", help="Make the pipeline's Ed25519 signing key instead (the linkage "
                          "side's; it signs the identified roster), with its public key "
                          "beside it as `<stem>.public.pem` for every recipient to pin.")] = False,
) -> None:
    """Create the linkage secret the three agencies share, and print its key id; or, with
    --signing, the pipeline's signing key for the identified roster."""
    if signing:
        from pipeline.handoff import generate_signing_key

        private, public, fingerprint = generate_signing_key(out_path)
        out.print(escape(f"signing key {fingerprint} written to {private} (mode 600); set "
                         f"handoff.signing_key to it. Give {public} to every recipient: "
                         "`sst-link decrypt --sender-key` checks the roster against it."),
                  highlight=False, soft_wrap=True)
        return
    from hashing import LinkageKey

    key = LinkageKey.generate(out_path)
    out.print(f"linkage key {key.key_id} written to {out_path} (mode 600). Give the same "
              "file to each agency over a secure channel; never to the linkage side.",
              highlight=False)


@app.command()
@_one_line_errors
def encode(
    agency: Annotated[str, typer.Option(help="DHS, DJS or DPSCS.")],
    extract: Annotated[Path, typer.Option(help="The agency's extract file.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for "
                                          "`encoded_<agency>_<night>.parquet` and "
                                          "`quarantine_<agency>_<night>.csv`.")],
    config: Config = None,
    night: FileNight = None,
) -> None:
    """Run the agency_encode flow: contract, then keyed encoding (key from
    encoding.key_file or SST_LINKAGE_KEY_FILE). Its output is all an agency sends.
    Prints when each stage starts and ends, with counts (as `run` does)."""
    from flows import agency_encode
    from pipeline.faults import os_error, quiet_prefect_console
    from pipeline.progress import console_display

    quiet_prefect_console()
    try:
        with console_display(out, err):
            result = agency_encode(str(extract), agency.upper(), str(out_dir), night,
                                   str(config) if config else None)
    except OSError as exc:
        raise os_error(exc, out_dir) from exc
    enc = result["encoded"]
    reasons = ", ".join(f"{r} {n:,}" for r, n in result["quarantine_by_reason"].items())
    out.print(f"{agency.upper()}: {result['rows_read']:,} rows read, "
              f"{result['rows_quarantined']:,} quarantined ({reasons or 'none'}); "
              f"{enc['records']:,} records encoded into {Path(out_dir) / enc['file']} "
              f"with key {enc['key_id']}", highlight=False)


@app.command()
@_one_line_errors
def check(
    extract: Annotated[Path, typer.Argument(help="One agency extract file.")],
    agency: Annotated[str, typer.Option(help="DHS, DJS or DPSCS.")],
    night: FileNight = None,
    config: Config = None,
) -> None:
    """Check one extract against its contract and print counts (writes nothing)."""
    from data_contracts import load_extract, parse_night
    from pipeline.config import load_settings
    from pipeline.nightly import night_of

    settings = load_settings(config)
    night = night or night_of(extract)
    result = load_extract(extract, agency.upper(), parse_night(night), settings.ingest.contract())
    out.print_json(data=result.summary())
    if result.quarantined_share > settings.ingest.quarantine_limit:
        raise SstError(f"quarantined share {100 * result.quarantined_share:.1f} % is over the "
                       f"limit of {100 * settings.ingest.quarantine_limit:.1f} %",
                       where=str(extract), hint="a run would stop on this file")


@app.command()
@_one_line_errors
def audit(
    extracts: Annotated[Path, typer.Option(help="Folder holding the three agency extracts: "
                                           "the attacks are scored against their plaintext, "
                                           "so the audit runs on the agency side.")],
    config: Config = None,
    night: _night("the newest night with all three extracts") = None,
    encoded: Annotated[Optional[Path], typer.Option(
        help="Folder of the night's encoded files to attack (default: the extracts "
             "encoded in memory with the linkage key and [encoding]).")] = None,
    out_path: Annotated[Optional[Path], typer.Option(
        "--out", help="JSON file for the figures (aggregate shares only).")] = None,
) -> None:
    """Privacy audit: frequency, pattern-mining and graph-matching attacks on the night's
    encodings by what the linkage side holds; prints the share of records and of values
    each re-identifies per field and blocking rule. Over audit.limit: a warning, or with
    audit.strict a one-line error and status 2. This is the full audit (every attack, both
    references, every record); every `sst-link run` has a cheaper audit stage on a sample
    (audit.every_run, audit.run_records, audit.run_attacks)."""
    import json

    from hashing.audit import audit_extracts, check_limit, format_table
    from pipeline.config import load_settings

    settings = load_settings(config)
    result = audit_extracts(extracts, night, settings, encoded)
    out.print(escape(format_table(result)), highlight=False, soft_wrap=True)
    if out_path is not None:
        out_path.write_text(json.dumps(result, indent=2) + "\n")
    for line in check_limit(result, settings.audit):       # strict: raises, one line
        err.print(f"[bold yellow]warning:[/] over the audit limit: {escape(line)}",
                  highlight=False, soft_wrap=True)


@app.command()
@_one_line_errors
def report(
    run_folder: Annotated[Path, typer.Argument(help="A finished run folder (`OUT/<run id>/`).")],
    truth: Annotated[Optional[Path], typer.Option(help="Synthetic truth/ folder: add measured "
                                                  "precision and recall.")] = None,
) -> None:
    """Rebuild match_quality.html and match_quality.json of a finished run.

    Night over night compares with the run the manifest names as the previous one, when it
    is still in the same output root. The manifest keeps the fingerprints of the report the
    run wrote; a rebuilt report replaces those two files only."""
    import json

    from pipeline.report import REPORT_HTML, write_report

    manifest_path = Path(run_folder) / "manifest.json"
    if not manifest_path.is_file():
        raise SstError("not a finished run folder (no manifest.json)", where=str(run_folder),
                       hint="give OUT/<run id>/ of a run that completed")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise SstError(f"cannot read the run's manifest ({type(exc).__name__})",
                       where=str(manifest_path), hint="the run folder is damaged; restore it "
                       "from backup") from None
    if not isinstance(manifest, dict) or "linkage" not in manifest:
        raise SstError("the manifest is not a linkage run's manifest", where=str(manifest_path),
                       hint="give the folder of a run that ran the link stage")
    summary = write_report(Path(run_folder), manifest, truth=truth)
    out.print(f"report written: {Path(run_folder) / REPORT_HTML} and match_quality.json "
              f"({summary['flags']} flag(s) to look at)", highlight=False, soft_wrap=True)


@app.command()
@_one_line_errors
def serve(config: Config = None) -> None:
    """Register the nightly deployment with the Prefect server and run it on its schedule.

    The schedule is the config's schedule table (default cron "0 2 * * *" in America/New_York),
    one run at a time; schedule.extracts and schedule.out must be set. Start a server first
    (`prefect server start`) and point PREFECT_API_URL at it; stop with Ctrl-C."""
    from flows import nightly_deployment
    from flows import serve as serve_flow

    deployment = nightly_deployment(str(config) if config else None)   # config errors first
    if not os.environ.get("PREFECT_API_URL"):
        raise SstError("no Prefect server to register the deployment with",
                       where="PREFECT_API_URL", hint="start one with `prefect server start` "
                       "and export PREFECT_API_URL=http://127.0.0.1:4200/api")
    when = deployment.schedules[0].schedule
    out.print(f"serving deployment nightly_linkage/{deployment.name} ({when.cron} "
              f"{when.timezone}, one run at a time); Ctrl-C stops", highlight=False)
    serve_flow(str(config) if config else None)


PassphraseFile = Annotated[Optional[Path], typer.Option(
    help="File holding the private key's passphrase (its trailing line end is dropped).")]


@app.command("recipient-keygen")
@_one_line_errors
def recipient_keygen(
    name: Annotated[str, typer.Option(help="Recipient name: 1-64 letters, digits, '_', '.' "
                                      "or '-' (it names the key and roster files).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for NAME.private.pem (mode "
                                          "0600) and NAME.public.pem (created if missing; "
                                          "existing files are never overwritten).")],
    passphrase_file: PassphraseFile = None,
) -> None:
    """Create a roster recipient's X25519 key pair and print its fingerprint.

    The private key stays with the recipient; the public key goes into the config."""
    from pipeline.handoff import generate_recipient, read_passphrase

    passphrase = read_passphrase(passphrase_file, use_env=False)
    keys = generate_recipient(name, out_dir, passphrase)
    protected = " (passphrase-protected)" if passphrase else ""
    out.print(f"private key: {escape(str(keys.private_path))} (mode 600){protected}",
              highlight=False, soft_wrap=True)
    out.print(f"public key:  {escape(str(keys.public_path))}", highlight=False,
              soft_wrap=True)
    out.print(f"fingerprint: {keys.fingerprint}", highlight=False)
    out.print(escape(f'add the public key to the config: [handoff.recipients] {name} = '
                     f'"{keys.public_path}"; keep the private key with {name} only.'),
              highlight=False, soft_wrap=True)


@app.command()
@_one_line_errors
def decrypt(
    in_file: Annotated[Path, typer.Option("--in", help="An `identified_roster.<recipient>.enc` "
                                          "file.")],
    key: Annotated[Path, typer.Option(help="The recipient's NAME.private.pem.")],
    out_path: Annotated[Path, typer.Option("--out", help="CSV file to write (mode 0600; it "
                                           "appears only once the whole file is verified, "
                                           "and an existing file is never overwritten).")],
    passphrase_file: Annotated[Optional[Path], typer.Option(
        help="File holding the private key's passphrase; without it the passphrase is read "
             "from SST_RECIPIENT_PASSPHRASE when set.")] = None,
    sender_key: Annotated[Optional[Path], typer.Option(
        help="The pipeline's public key (PIPELINE.public.pem from the data steward): the "
             "file must carry its signature. Without it only an old unsigned (version 1) "
             "file can be read, and is reported as unauthenticated.")] = None,
) -> None:
    """Decrypt an encrypted identified roster with the recipient's private key, check the
    pipeline's signature, and say which night and run it is from."""
    from pipeline.handoff import decrypt_roster, read_passphrase

    got = decrypt_roster(in_file, key, out_path, read_passphrase(passphrase_file), sender_key)
    if got.authenticated:
        origin = (f"signed by the pipeline (key {got.signer}): night {got.night}, "
                  f"run {got.run_id}")
    else:
        origin = "NOT AUTHENTICATED (an unsigned format version 1 file: its sender is unknown)"
    out.print(escape(f"{got.rows:,} rows written to {out_path} (mode 600); {origin}"),
              highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        app(args=argv, prog_name="sst-link", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
