"""Faults the machine causes end in one line: a full disk, a permission, a vanished file."""

from __future__ import annotations

import errno
import logging
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_contracts import ContractError, load_extract
from pipeline import faults
from pipeline.cli import app
from pipeline.nightly import StageClock


def _noted(exc: OSError, stage: str) -> OSError:
    faults.note_stage(exc, stage)
    return exc


@pytest.mark.parametrize("exc,where,expect", [
    (_noted(OSError(errno.ENOSPC, "No space left on device"), "link"), "/runs",
     ["/runs: no space left on the device (ENOSPC) in the link stage", "about 40 MB",
      "no run folder was published"]),
    # pyarrow's write error: the number only in its text
    (OSError("Error writing bytes to file. Detail: [errno 27] File too large"), "/runs",
     ["/runs: a file could not grow", "(EFBIG)", "free space"]),
    (PermissionError(errno.EACCES, "Permission denied", "/runs/.exchange/x"), "/runs",
     ["/runs/.exchange/x: permission denied (EACCES)", "write the output root"]),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/in/a.txt"), "/runs",
     ["/in/a.txt: a file or folder vanished while the run used it (ENOENT)"]),
    (OSError(errno.EIO, "Input/output error"), "/runs",
     ["/runs: Input/output error (EIO)", "--debug"]),
])
def test_os_errors_become_one_line(exc: OSError, where: str, expect: list[str]) -> None:
    line = faults.os_error(exc, where, need=40 * 2**20, published=True).one_line()
    assert "\n" not in line
    for text in expect:
        assert text in line, line


def test_only_errors_that_may_heal_are_retried() -> None:
    assert faults.transient(OSError(errno.EIO, "Input/output error"))
    assert faults.transient(OSError(errno.ESTALE, "Stale file handle"))
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EROFS,
                 errno.ENOENT):
        assert not faults.transient(OSError(code, "x"))
    assert not faults.transient(ValueError("not the machine's fault"))
    assert not faults.transient(ContractError("a bad file"))


def test_free_space_is_checked_from_the_inputs_sizes(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    extract = tmp_path / "dhs_clients_20261125.csv"
    extract.write_bytes(b"x" * 2**20)
    need = faults.space_needed([extract])
    assert need == faults.SPACE_FACTOR * 2**20 + faults.SPACE_FLOOR
    monkeypatch.setattr(faults, "_free_bytes", lambda path: need)
    assert faults.check_free_space(tmp_path / "runs" / "not-yet", [extract]) == need
    monkeypatch.setattr(faults, "_free_bytes", lambda path: need - 1)
    with pytest.raises(faults.SystemFault, match=r"runs: not enough free space .*40 MB "
                                                 r"needed: 8 x the extracts' size"):
        faults.check_free_space(tmp_path / "runs", [extract])
    assert faults._free_bytes(tmp_path / "no" / "such" / "folder") > 0     # nearest parent


def test_run_without_space_stops_in_one_line_before_prefect_starts(
        small_night: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "_free_bytes", lambda path: 2**20)
    sys.modules.pop("flows", None)
    result = CliRunner().invoke(app, ["run", "--extracts", str(small_night), "--out",
                                      str(tmp_path / "runs")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not enough free space for tonight's run (1 MB free" in lines[0]
    assert "flows" not in sys.modules                                  # Prefect never started
    assert not [p for p in (tmp_path / "runs").glob("*") if not p.name.startswith(".")] \
        if (tmp_path / "runs").exists() else True


def test_an_os_error_is_one_line_and_debug_shows_the_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import data_contracts

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(data_contracts, "load_extract", full)
    extract = tmp_path / "dhs_clients_20261125.csv"
    extract.write_text("x\n")
    result = CliRunner().invoke(app, ["check", str(extract), "--agency", "DHS"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: no space left on the device (ENOSPC) -- free space on that file system "
        "and rerun"]
    debug = CliRunner().invoke(app, ["--debug", "check", str(extract), "--agency", "DHS"])
    assert debug.exit_code == 1 and isinstance(debug.exception, OSError)


def test_a_stage_notes_its_name_on_an_os_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.FAULT_INJECTION_ENV, raising=False)
    clock = StageClock()
    with pytest.raises(OSError) as caught, clock("publish"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert "in the publish stage" in faults.os_error(caught.value, "/r").one_line()
    assert "publish" not in clock.seconds
    with clock("report"):
        pass
    assert "report" in clock.seconds


def test_fault_injection_runs_the_benchmarks_hook_only_when_asked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmarks.bench_faults as bench

    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(bench, "inject", lambda stage, spec: seen.append((stage, spec)))
    monkeypatch.delenv(faults.FAULT_INJECTION_ENV, raising=False)
    faults.stage_hook("link")
    assert seen == []
    monkeypatch.setenv(faults.FAULT_INJECTION_ENV, "link:killed")
    faults.stage_hook("link")
    assert seen == [("link", "link:killed")]


def test_prefect_copies_of_a_failure_stay_off_the_console() -> None:
    keep = faults._NoRunFailures()

    def record(name: str, level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, message, None, None)

    assert not keep.filter(record("prefect.task_runs", logging.ERROR,
                                  "Task run failed with exception: OSError(28)"))
    assert not keep.filter(record("prefect.flow_runs", logging.INFO,
                                  "Finished in state Failed('Flow run encountered ...')"))
    assert keep.filter(record("prefect.flow_runs", logging.INFO,
                              "Finished in state Completed()"))
    assert keep.filter(record("prefect.task_runs", logging.INFO, "DHS: 10 rows read"))
    assert keep.filter(record("prefect", logging.WARNING, "anything else"))


@pytest.mark.parametrize("agency,name", [("DHS", "dhs_clients_20261125.csv"),
                                         ("DPSCS", "dpscs_offenders_20261125.parquet")])
def test_an_extract_that_vanishes_while_read_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, agency: str, name: str) -> None:
    from datetime import date

    path = tmp_path / name
    path.write_bytes(b"listed, then deleted before it was read\n")

    def vanished(self: Path) -> bytes:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(self))

    monkeypatch.setattr(Path, "read_bytes", vanished)
    with pytest.raises(ContractError, match="extract file is missing .it vanished while "
                                            "the run read it"):
        load_extract(path, agency, date(2026, 11, 25))


def test_a_stage_input_damaged_or_changed_meanwhile_is_one_line(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "persons_DJS_20261125.parquet"
    pq.write_table(pa.table({"agency": ["DJS"], "record_id": ["Y0000001"]}), path)
    faults.check_staged(path, ("agency", "record_id"), "ingest")
    with pytest.raises(faults.SystemFault, match="ingest stage of this run wrote was changed "
                                                 r"\(no column record_kind\)"):
        faults.check_staged(path, ("agency", "record_kind"), "ingest")
    path.write_bytes(path.read_bytes()[:40])                        # cut short
    with pytest.raises(faults.SystemFault, match=r"wrote is damaged \(ArrowInvalid\)"):
        faults.check_staged(path, ("agency",), "ingest")
    path.unlink()
    with pytest.raises(FileNotFoundError) as gone:                  # pyarrow's: no errno
        faults.check_staged(path, ("agency",), "ingest")
    line = faults.os_error(gone.value, tmp_path).one_line()
    assert line.startswith(f"{path}: a file or folder vanished while the run used it "
                           "(ENOENT)"), line


def test_a_key_file_replaced_during_the_run_stops_it() -> None:
    from data_contracts.errors import EncodedFormatError
    from pipeline.nightly import check_same_key

    encoded = [{"agency": a, "key_id": "k1-b"} for a in ("DHS", "DJS", "DPSCS")]
    check_same_key(encoded, "k1-b")
    with pytest.raises(EncodedFormatError, match=r"key file changed during the run "
                                                 r"\(k1-a -> k1-b\)"):
        check_same_key(encoded, "k1-a")
