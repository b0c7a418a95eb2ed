"""Delivery completeness: which night a run takes, and whether its three extracts are whole.

Extracts arrive by secure file transfer and may still be growing when the night starts
(``shared/specs/agency_extracts.md``, *Delivery*); a truncated extract must never be
published as the agency's whole population. :func:`preflight` decides before any data is
read (and, for ``sst-link run``, before Prefect starts its server):

1. **Night**: the newest night whose three extracts are present and ready (``--night``
   names one); later nights with only some files, or with a file still being written, are
   named and left for later. A night already published into the output root from the
   same files is not run again unless forced ("nothing new"); from other files, the run
   stops and says so.
2. **Ready**: a file (or its control file) changed within ``delivery.settle_seconds`` is
   watched for the rest of that time; one that changes meanwhile is still being written.
3. **Control file** ``<extract file name>.ctl`` (lines ``rows=<data rows, header
   excluded>`` and ``sha256=<hex>``): where present, both must match.
4. **Otherwise** a text extract must end with a line end (a cut file ends mid-row), and
   an agency's data rows may not fall by more than ``delivery.max_drop`` against the
   newest earlier night published into the output root unless the steward accepts it.

Rows are counted the way the contracts count them, in one vectorized pass over the bytes
(text) or from the Parquet footer. Errors are one line; no record value is ever shown.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data_contracts import (
    AGENCIES,
    EXTRACT_FILES,
    ConfigError,
    ContractError,
    RunFolderError,
    extract_path,
    find_extracts,
    parse_night,
)
from data_contracts._contract import sha256_file

from .run_folder import finished_runs, read_manifest

if TYPE_CHECKING:                                   # pragma: no cover
    from .config import Settings

CONTROL_SUFFIX = ".ctl"
"""A control file is the extract's file name with this appended."""
_BLOCK = 1 << 24
_QUOTED = {"DHS": True, "DJS": False}


class DeliveryError(ContractError):
    """An extract is not complete: still being written, cut short, or not what its
    control file or the earlier nights say it should be."""


# --------------------------------------------------------------------------- one file


@dataclass(frozen=True)
class Scan:
    """What :func:`scan_extract` finds: data rows (header excluded), bytes, whether the
    last row ends with a line end (always true for Parquet), and the SHA-256 if asked."""

    rows: int
    size: int
    ends_with_line_end: bool
    sha256: str | None


def control_path(extract: Path) -> Path:
    """The control file that may sit beside an extract."""
    return Path(extract).with_name(Path(extract).name + CONTROL_SUFFIX)


def scan_extract(path: Path, agency: str, with_sha256: bool = False) -> Scan:
    """Count an extract's data rows without parsing it (as the contract counts them).

    Raises:
        ContractError: the file is missing or unreadable.
        DeliveryError: a Parquet file without a readable footer (cut short).
    """
    path = Path(path)
    if not path.exists():
        raise ContractError("extract file is missing", where=str(path),
                            hint="check the extracts folder and the night")
    try:
        if agency in _QUOTED:
            return _scan_text(path, _QUOTED[agency], with_sha256)
        return _scan_parquet(path, with_sha256)
    except OSError as exc:
        raise ContractError(f"extract file is unreadable ({exc.strerror})", where=str(path),
                            hint="check the file's permissions") from None


def _scan_parquet(path: Path, with_sha256: bool) -> Scan:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except (ValueError, pa.ArrowException) as exc:
        raise DeliveryError(f"not a complete Parquet file ({type(exc).__name__}): cut short "
                            "or still being written", where=str(path),
                            hint="ask the agency to resend it") from None
    return Scan(int(rows), path.stat().st_size, True,
                sha256_file(path) if with_sha256 else None)


def _scan_text(path: Path, quoted: bool, with_sha256: bool) -> Scan:
    """Lines are found with numpy, block by block; a line is a data row when it is not the
    header, not blank and (quoted files) not inside a quoted field that spans lines."""
    digest = hashlib.sha256() if with_sha256 else None
    ends, crs, quotes_at = [], [], []
    offset = quotes = 0
    last = -1                                           # last byte read so far
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            if digest is not None:
                digest.update(block)
            buf = np.frombuffer(block, dtype=np.uint8)
            lf = np.flatnonzero(buf == 10)
            before = np.where(lf > 0, buf[np.maximum(lf - 1, 0)].astype(np.int16), last)
            ends.append(lf + offset)
            crs.append(before == 13)
            if quoted:
                q = np.flatnonzero(buf == 34)
                quotes_at.append(quotes + np.searchsorted(q, lf))
                quotes += len(q)
            offset += len(block)
            last = int(buf[-1])
    end = np.concatenate([np.zeros(0, np.int64), *ends])
    cr = np.concatenate([np.zeros(0, bool), *crs])
    q_end = np.concatenate([np.zeros(0, np.int64), *quotes_at])
    complete = offset > 0 and last == 10
    if offset and not complete:                         # a last line without a line end
        end, cr = np.append(end, offset), np.append(cr, last == 13)
        q_end = np.append(q_end, quotes)
    start = np.concatenate(([0], end[:-1] + 1))
    row = (end - start - cr) > 0
    row[:1] = False                                     # the header
    if quoted and quotes % 2 == 0:
        row &= np.concatenate(([0], q_end[:-1])) % 2 == 0
    return Scan(int(row.sum()), offset, complete,
                digest.hexdigest() if digest is not None else None)


@dataclass(frozen=True)
class Control:
    """A control file's declaration."""

    rows: int
    sha256: str


def read_control(path: Path) -> Control:
    """Parse ``rows=<n>`` and ``sha256=<hex>`` (in either order; blank lines, spaces and
    CRLF tolerated).

    Raises:
        DeliveryError: unreadable, or not exactly those two lines.
    """
    try:
        text = Path(path).read_bytes().decode("ascii")
    except (OSError, UnicodeDecodeError):
        text = ""
    found = dict(re.findall(r"(?im)^\s*(rows|sha256)\s*=\s*(\S+)\s*$", text))
    lines = [line for line in text.splitlines() if line.strip()]
    rows, digest = found.get("rows", ""), found.get("sha256", "").lower()
    if len(lines) != 2 or not rows.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise DeliveryError("control file is not the two lines rows=<data rows> and "
                            "sha256=<hex digest of the extract>", where=str(path),
                            hint="ask the agency to rewrite it, or remove it to judge the "
                                 "extract by itself and by earlier nights")
    return Control(int(rows), digest)


def still_growing(paths: Iterable[Path], settle_seconds: float) -> dict[Path, str]:
    """Files still being written: each one changed within the last ``settle_seconds`` is
    watched until it has been unchanged that long (one wait for all); those whose size or
    modification time changed meanwhile are returned with what changed."""
    first = {Path(p): Path(p).stat() for p in paths}
    now = time.time()
    wait = max((settle_seconds - (now - s.st_mtime) for s in first.values()), default=0.0)
    if wait <= 0:
        return {}
    time.sleep(min(wait, settle_seconds))
    growing = {}
    for p, a in first.items():
        try:
            b = p.stat()
        except FileNotFoundError:
            growing[p] = "removed while it was watched"
            continue
        if (a.st_size, a.st_mtime_ns) != (b.st_size, b.st_mtime_ns):
            growing[p] = f"{a.st_size:,} -> {b.st_size:,} bytes in {settle_seconds:g} s"
    return growing


# --------------------------------------------------------------------------- the output root


def runs_by_night(root: Path) -> dict[str, Path]:
    """The newest finished run folder (it has a manifest) of each night in an output root."""
    return {p.name[:8]: p for p in finished_runs(root)}


def volume_history(root: Path, night: str, nights: int) -> list[dict[str, Any]]:
    """Rows read per agency on up to ``nights`` nights before ``night`` (the newest run
    of each), oldest first: ``{"night", "run_id", "rows": {agency: rows}}``. Runs whose
    manifest holds no counts are skipped."""
    out: list[dict[str, Any]] = []
    for n, run in sorted(runs_by_night(root).items(), reverse=True):
        if len(out) >= nights:
            break
        if n >= night:
            continue
        counts = read_manifest(run).get("counts")
        try:
            rows = {a: int(c["rows_read"]) for a, c in counts.items()}
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
        out.append({"night": n, "run_id": run.name, "rows": rows})
    return out[::-1]


# --------------------------------------------------------------------------- the night


@dataclass(frozen=True)
class Delivery:
    """What :func:`preflight` decided.

    Attributes:
        night: the night to run (or the one found already published).
        paths: each agency's extract.
        note: one line for the steward: which night and why, what waits.
        published: set when there is nothing to do: this night's run folder, published
            from these very files.
        record: the checks' figures for the manifest (``delivery``).
    """

    night: str
    paths: dict[str, Path]
    note: str
    published: Path | None = None
    record: dict[str, Any] | None = None


def _present(folder: Path) -> dict[str, set[str]]:
    names = [p.name for p in folder.iterdir()]
    out = {}
    for agency, template in EXTRACT_FILES.items():
        pattern = re.escape(template).replace(r"\{night\}", r"(\d{8})")
        out[agency] = {m.group(1) for n in names if (m := re.fullmatch(pattern, n))}
    return out


def _require(paths: dict[str, Path], hint: str) -> None:
    for p in paths.values():
        if not p.exists():
            raise ContractError("extract file is missing", where=str(p), hint=hint)


def choose_night(folder: Path, night: str | None, settle_seconds: float
                 ) -> tuple[str, dict[str, Path], list[str]]:
    """The night to run: ``night`` if given, else the newest night whose three extracts
    are present and none is still being written.

    Returns:
        ``(night, paths, waiting)``: ``waiting`` names the later nights left for later.

    Raises:
        ContractError: no night has all three extracts (naming the newest night's missing
            file), or the given night lacks one.
        DeliveryError: the given night's files (or every complete night's) are still being
            written.
    """
    folder = Path(folder)
    find_extracts(folder, night)                 # the folder exists and holds an extract
    present = _present(folder)
    if night is not None:
        parse_night(night)
        candidates = [night]
    else:
        candidates = sorted(set.intersection(*present.values()), reverse=True)
    seen = sorted(set().union(*present.values()), reverse=True)
    newest = candidates[0] if candidates else seen[0]
    waiting = [f"{n} has only " + ", ".join(a for a in AGENCIES if n in present[a])
               for n in seen if night is None and n > newest]
    if not candidates:
        _require({a: extract_path(folder, a, newest) for a in AGENCIES},
                 "no night has all three extracts yet; wait for the missing one")
    for n in candidates:
        paths = {a: extract_path(folder, a, n) for a in AGENCIES}
        _require(paths, "check the extracts folder and the night")
        watched = [*paths.values(),
                   *(c for p in paths.values() if (c := control_path(p)).exists())]
        growing = still_growing(watched, settle_seconds)
        if not growing:
            return n, paths, waiting
        p, what = next(iter(growing.items()))
        if night is not None or n == candidates[-1]:
            raise DeliveryError(f"still being written ({what})", where=str(p),
                                hint="run again once the transfer has ended (a file must "
                                     "stay unchanged for delivery.settle_seconds)")
        waiting.append(f"{n}: {p.name} is still being written")
    raise AssertionError("unreachable")             # pragma: no cover


def check_extracts(paths: dict[str, Path], root: Path, night: str, settings: Settings,
                   accept: Iterable[str] = ()) -> dict[str, Any]:
    """Control files where present; otherwise a whole last row and no drop in rows beyond
    ``delivery.max_drop`` against the newest earlier night in ``root`` (unless accepted).

    Returns:
        The figures for the manifest's ``delivery``: per agency file, rows, bytes, control
        file, the earlier night's rows and the change, whether a drop was accepted.

    Raises:
        DeliveryError: one line naming the file, agency and figures.
    """
    max_drop = settings.delivery.max_drop
    accept = set(accept)
    history = volume_history(root, night, 1)
    ref = history[-1] if history else None
    agencies: dict[str, dict[str, Any]] = {}
    drops: list[tuple[Path, str]] = []
    for agency, path in paths.items():
        ctl = control_path(path)
        scan = scan_extract(path, agency, with_sha256=ctl.exists())
        entry: dict[str, Any] = {"file": path.name, "rows": scan.rows, "bytes": scan.size,
                                 "control_file": None, "previous_rows": None, "change": None,
                                 "accepted": False}
        agencies[agency] = entry
        if scan.sha256 is not None:
            declared = read_control(ctl)
            wrong = [f"{scan.rows:,} data rows, {declared.rows:,} declared"] \
                if declared.rows != scan.rows else []
            if declared.sha256 != scan.sha256:
                wrong.append(f"sha256 {scan.sha256[:12]}..., {declared.sha256[:12]}... "
                             "declared")
            if wrong:
                raise DeliveryError(f"does not match its control file {ctl.name} ("
                                    + "; ".join(wrong) + ")", where=str(path),
                                    hint=f"the extract is incomplete or changed after the "
                                         f"control file was written; ask {agency} to resend "
                                         "both")
            entry["control_file"] = ctl.name
            continue
        if not scan.ends_with_line_end and settings.delivery.require_final_line_end:
            raise DeliveryError(f"ends mid-row ({scan.size:,} bytes, no line end after the "
                                "last row): the file was cut short", where=str(path),
                                hint=f"ask {agency} to resend it, with a control file "
                                     f"{ctl.name} if they can")
        before = (ref or {}).get("rows", {}).get(agency)
        if before:
            change = (scan.rows - before) / before
            entry.update(previous_rows=before, change=round(change, 6))
            if change < -max_drop:
                if agency in accept:
                    entry["accepted"] = True
                else:
                    drops.append((path, f"{agency} {scan.rows:,} data rows against {before:,} "
                                        f"on {ref['night']} ({100 * -change:.1f} % fewer)"))
    if drops:
        raise DeliveryError(f"rows fell by more than {100 * max_drop:g} % since the last "
                            "night: " + "; ".join(d for _, d in drops), where=str(drops[0][0]),
                            hint="an extract cut short? ask the agency to resend it; if the "
                                 "drop is real, run again with --accept-volume-change "
                                 + " --accept-volume-change ".join(
                                     d.split()[0] for _, d in drops))
    return {"settle_seconds": settings.delivery.settle_seconds, "max_drop": max_drop,
            "reference_night": ref["night"] if ref else None,
            "accepted": sorted(accept), "agencies": agencies}


def accepted_agencies(values: Iterable[str] | None) -> list[str]:
    """``--accept-volume-change`` values, upper-cased and checked.

    Raises:
        ConfigError: not an agency.
    """
    out = sorted({str(v).strip().upper() for v in values or ()})
    for a in out:
        if a not in AGENCIES:
            raise ConfigError(f"unknown agency {a!r}", where="--accept-volume-change",
                              hint="use DHS, DJS or DPSCS")
    return out


def preflight(extracts: Path, root: Path, night: str | None, settings: Settings,
              key_id: str, key_rotated_from: str | None = None,
              accept: Iterable[str] | None = None, force: bool = False) -> Delivery:
    """Everything a run checks before it reads data: the night, the linkage key's
    continuity, whether the night is already published, and the delivery's completeness.

    Returns:
        A :class:`Delivery`; its ``published`` is set when there is nothing to do.

    Raises:
        SstError: one line (a missing or growing file, a key change, a night published
            from other files without ``force``, an incomplete extract).
    """
    from .nightly import check_key_continuity

    accepted = accepted_agencies(accept)
    first, _ = find_extracts(Path(extracts), night)
    check_key_continuity(Path(root), first, key_id, key_rotated_from)
    chosen, paths, waiting = choose_night(Path(extracts), night,
                                          settings.delivery.settle_seconds)
    if chosen != first:
        check_key_continuity(Path(root), chosen, key_id, key_rotated_from)
    how = "as given" if night is not None else "the newest complete night"
    later = f"; not yet: {'; '.join(waiting)}" if waiting else ""
    run = runs_by_night(root).get(chosen)
    if run is not None and not force:
        inputs = read_manifest(run).get("inputs") or {}
        differ = [a for a, p in paths.items()
                  if (inputs.get(a) or {}).get("sha256") != sha256_file(p)]
        if differ:
            raise RunFolderError(f"night {chosen} is already published, from other "
                                 f"files than tonight's ({', '.join(differ)} differ{later})",
                                 where=str(run), hint="run with --force to publish "
                                                      "tonight's files as a new run")
        return Delivery(chosen, paths, f"nothing new: night {chosen} ({how}) is already "
                        f"published in {run}{later} -- --force runs it again", run)
    record = check_extracts(paths, root, chosen, settings, accepted)
    return Delivery(chosen, paths, f"night {chosen} ({how}) in {extracts}{later}",
                    None, record)
