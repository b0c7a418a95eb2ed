"""Faults the machine causes, each ended in one line.

* :func:`check_free_space`: before a run reads anything, the output root's file system must
  hold :data:`SPACE_FACTOR` times the night's extracts (plus :data:`SPACE_FLOOR`), what a
  run holds at its peak (measured: 6.8x on a small night, 6.5x on a medium one; the
  encoded extracts alone are 5.4x).
* :func:`os_error`: an ``OSError`` met anyway (no space, no permission, a file that
  vanished, a read-only file system) as a one-line :class:`SystemFault`, naming the file or
  folder, the stage and what to do. The CLI prints it and exits 2.
* :func:`transient`: which ``OSError`` a task retries (a share that blinked), and which it
  does not (a full disk or a missing permission do not heal in ten seconds).
* :func:`quiet_prefect_console`: Prefect logs a failed task or flow run three times, with
  tracebacks; ``sst-link run`` prints the one line itself, so those copies stay out of the
  terminal (they still reach the Prefect API, for the UI).
* :func:`stage_hook`: the fault-injection hook of ``benchmarks/bench_faults.py`` (off
  unless ``SST_FAULT_INJECTION`` is set; the benchmarks are not part of the package).
"""

from __future__ import annotations

import errno
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from data_contracts.errors import SstError

SPACE_FACTOR = 8
"""Free space a run needs, as a multiple of its extracts' total size."""
SPACE_FLOOR = 32 * 2**20
"""...plus this (manifest, report, model and small files of a tiny night)."""
FAULT_INJECTION_ENV = "SST_FAULT_INJECTION"

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NO_PERMISSION = (errno.EACCES, errno.EPERM)
_PERMANENT = frozenset({*_NO_SPACE, *_NO_PERMISSION, errno.EROFS, errno.ENOENT,
                        errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG})


class SystemFault(SstError):
    """The machine stopped the run: no space, no permission, a file gone, an I/O error."""


def space_needed(inputs: Iterable[Path]) -> int:
    """Bytes a run of these extracts needs free on the output root's file system."""
    return SPACE_FACTOR * sum(Path(p).stat().st_size for p in inputs) + SPACE_FLOOR


def _free_bytes(path: Path) -> int:
    """Free bytes for an unprivileged writer on the file system holding ``path`` (or its
    nearest existing parent: the output root may not exist yet)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def check_free_space(root: Path, inputs: Iterable[Path]) -> int:
    """Stop before reading anything when the output root's file system cannot hold the run.

    Returns:
        The bytes the run needs.

    Raises:
        SystemFault: naming the root, the space free and the space needed.
    """
    need = space_needed(inputs)
    free = _free_bytes(Path(root))
    if free < need:
        raise SystemFault(f"not enough free space for tonight's run ({_mb(free)} free, about "
                          f"{_mb(need)} needed: {SPACE_FACTOR} x the extracts' size)",
                          where=str(root), hint="free space on that file system or point "
                          "--out elsewhere, then rerun; nothing was written")
    return need


def _stage_of(exc: BaseException) -> str | None:
    for note in getattr(exc, "__notes__", ()):
        if note.startswith("sst stage: "):
            return note.removeprefix("sst stage: ")
    return None


def note_stage(exc: BaseException, stage: str) -> None:
    """Remember in which stage an exception arose (first stage wins)."""
    if _stage_of(exc) is None:
        exc.add_note(f"sst stage: {stage}")


def _errno(exc: OSError) -> int | None:
    """The error number, also from pyarrow's errors (``[errno 28] ...`` in the message, or
    only the class: ``FileNotFoundError(path)``)."""
    if exc.errno is not None:
        return exc.errno
    for cls, code in ((FileNotFoundError, errno.ENOENT), (PermissionError, errno.EACCES)):
        if isinstance(exc, cls):
            return code
    text = str(exc)
    for code in (*_NO_SPACE, *_NO_PERMISSION, errno.EROFS, errno.ENOENT):
        if f"errno {code}]" in text.lower():
            return code
    return None


def _path_in(exc: OSError) -> str | None:
    """The path pyarrow puts in its message instead of ``filename`` (``FileNotFoundError(
    path)``, ``Failed to open local file '/x'``)."""
    text = str(exc.args[-1]) if exc.args else ""
    if text.startswith(os.sep) and "\n" not in text:
        return text
    quoted = re.search(r"'(/[^']+)'", text)
    return quoted.group(1) if quoted else None


def os_error(exc: OSError, where: Path | str | None = None, *, need: int | None = None,
             published: bool = False) -> SystemFault:
    """An ``OSError`` as one line: what, where (the file when the error names one, else
    ``where``), in which stage, and what to do.

    Args:
        exc: the error.
        where: the folder being written (the output root of a run).
        need: bytes the run needs (said in the advice on a full disk).
        published: say that nothing was published (true of a run: its folder is atomic).
    """
    code = _errno(exc)
    name = errno.errorcode.get(code, "") if code is not None else ""
    place = exc.filename or _path_in(exc) or where or ""
    stage = _stage_of(exc)
    during = f" in the {stage} stage" if stage else ""
    if code in _NO_SPACE:
        what = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota "
                "exceeded", errno.EFBIG: "a file could not grow (file-size limit)"}[code]
        hint = "free space on that file system" + (
            f" (a run of this night needs about {_mb(need)})" if need else "") + " and rerun"
    elif code in _NO_PERMISSION:
        what, hint = "permission denied", ("let the account running sst-link read the "
                                           "extracts and write the output root, then rerun")
    elif code == errno.EROFS:
        what, hint = "the file system is read-only", "use a writable output root"
    elif code == errno.ENOENT:
        what, hint = ("a file or folder vanished while the run used it",
                      "something removed it meanwhile (a clean-up job?); rerun")
    else:
        what = (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")
        hint = "an operating-system fault; rerun, or add --debug to see where it arose"
    if published:
        hint += "; no run folder was published and the next run clears what this one left"
    return SystemFault(f"{what}{f' ({name})' if name else ''}{during}", where=str(place),
                       hint=hint)


def check_staged(path: Path, columns: Iterable[str], made_by: str) -> None:
    """A file an earlier stage of this run wrote, checked before the next stage reads it
    (its footer and columns only): damaged or altered meanwhile is one line, not a parser's
    traceback. A file gone raises ``FileNotFoundError`` (see :func:`os_error`).

    Raises:
        SystemFault: the file cannot be opened as Parquet or lacks one of ``columns``.
    """
    import pyarrow.parquet as pq

    hint = ("something altered the run's working files while it ran, or the disk is "
            "failing; rerun: no run folder was published")
    try:
        names = set(pq.read_schema(path).names)
    except FileNotFoundError:
        raise
    except Exception as exc:        # a damaged file: whatever the parser raises
        raise SystemFault(f"a file the {made_by} stage of this run wrote is damaged "
                          f"({type(exc).__name__})", where=str(path), hint=hint) from None
    missing = [c for c in columns if c not in names]
    if missing:
        raise SystemFault(f"a file the {made_by} stage of this run wrote was changed (no "
                          f"column {', '.join(missing)})", where=str(path), hint=hint)


def transient(exc: BaseException) -> bool:
    """Whether a task should retry after ``exc``: an ``OSError`` that may heal (an I/O
    error, a stale file handle), not a full disk, a permission or a vanished file."""
    return isinstance(exc, OSError) and _errno(exc) not in _PERMANENT


class _NoRunFailures(logging.Filter):
    """Drops Prefect's reports of a failed task or flow run (the CLI says it once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("prefect.flow_runs", "prefect.task_runs")):
            return True
        if record.levelno >= logging.ERROR:
            return False
        message = record.getMessage()
        return not (message.startswith("Finished in state")
                    and not message.startswith("Finished in state Completed"))


def quiet_prefect_console() -> None:
    """Keep Prefect's copies of a failure off the terminal (call after importing Prefect);
    the Prefect API still gets them. The caller prints the failure itself."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
                isinstance(f, _NoRunFailures) for f in handler.filters):
            handler.addFilter(_NoRunFailures())


class _StopLine(logging.Filter):
    """Drops Prefect's 'Stopping temporary server' line, logged at exit."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Stopping temporary server")


def silence_prefect() -> None:
    """After the one error line nothing more: Prefect's 'Stopping temporary server' at
    exit would otherwise follow it. Only that line is dropped (a filter, not a level), so
    the rest of Prefect's logging in the process is as it was."""
    logger = logging.getLogger("prefect")
    if not any(isinstance(f, _StopLine) for f in logger.filters):
        logger.addFilter(_StopLine())


def stage_hook(stage: str) -> None:
    """Fault injection for ``benchmarks/bench_faults.py`` only: with
    ``SST_FAULT_INJECTION=<stage>:<fault>`` set, the benchmark's ``inject`` runs as each
    stage starts (it kills the run, fills the disk, or damages the stage's input). Unset
    (always, in production) it costs one environment look-up per stage.

    Raises:
        SystemFault: the variable is set but the benchmarks are not importable.
    """
    spec = os.environ.get(FAULT_INJECTION_ENV)
    if not spec:
        return
    try:
        from benchmarks.bench_faults import inject
    except ImportError:
        raise SystemFault("fault injection is asked for but the benchmarks are not here",
                          where=FAULT_INJECTION_ENV, hint="unset it: it is for "
                          "benchmarks/bench_faults.py only") from None
    inject(stage, spec)
