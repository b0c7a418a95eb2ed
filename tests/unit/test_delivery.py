"""Delivery completeness (pipeline/delivery.py): the night a run takes, growing files,
control files, files cut short and drops in volume against earlier nights."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from data_contracts import (
    AGENCIES,
    ConfigError,
    ContractError,
    RunFolderError,
    load_extract,
    parse_night,
)
from pipeline import delivery as D
from pipeline.config import load_settings

NIGHT, LATER = "20261125", "20261128"


def _settings(tmp_path: Path, text: str = "") -> object:
    cfg = tmp_path / "delivery.toml"
    cfg.write_text("[delivery]\n" + (text if "settle" in text else
                                      "settle_seconds = 0.3\n" + text))
    return load_settings(cfg)


def _age(*paths: Path, seconds: float = 3600) -> None:
    """Make files look delivered a while ago (unchanged for ``seconds``)."""
    then = time.time() - seconds
    for p in paths:
        os.utime(p, (then, then))


def _night(small_night: Path, folder: Path, night: str = NIGHT) -> dict[str, Path]:
    """The small night's three extracts copied into ``folder`` under ``night``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for src in small_night.iterdir():
        if src.is_file():
            dst = folder / src.name.replace(NIGHT, night)
            shutil.copyfile(src, dst)
            paths[{"dhs": "DHS", "djs": "DJS", "dpscs": "DPSCS"}[src.name.split("_")[0]]] = dst
    _age(*paths.values())
    return paths


def _published(root: Path, night: str, paths: dict[str, Path] | None = None,
               rows: dict[str, int] | None = None, key_id: str = "k1-test") -> Path:
    """A finished run folder of ``night`` in ``root``: a manifest with its inputs' SHA-256
    and rows read (what the checks read back)."""
    run = root / f"{night}-20261201T070000Z-abc123"
    run.mkdir(parents=True)
    manifest = {"night": night, "linkage_key_id": key_id, "run_id": run.name,
                "inputs": {a: {"file": p.name, "sha256": D.sha256_file(p)}
                           for a, p in (paths or {}).items()},
                "counts": {a: {"rows_read": n} for a, n in (rows or {}).items()}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


# --------------------------------------------------------------------------- row counts


def test_rows_are_counted_as_the_contracts_count_them(small_night: Path) -> None:
    from data_contracts import find_extracts

    night, paths = find_extracts(small_night)
    for agency, path in paths.items():
        scan = D.scan_extract(path, agency, with_sha256=True)
        assert scan.rows == load_extract(path, agency, parse_night(night)).rows_read, agency
        assert scan.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert scan.size == path.stat().st_size and scan.ends_with_line_end


def test_text_rows_blank_lines_crlf_and_quoted_line_breaks(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setattr(D, "_BLOCK", 7)             # rows and quotes across block edges
    f = tmp_path / "dhs_clients_20261125.csv"
    f.write_bytes(b'a,b\r\n1,"x\r\ny"\r\n\r\n2,z\r\n   \n3,"q"')
    scan = D.scan_extract(f, "DHS")
    assert (scan.rows, scan.ends_with_line_end) == (4, False)   # 1, 2, "   " and 3
    f.write_bytes(b"a|b\n1|O\"BRIEN\n2|x\n")                       # a stray quote
    assert D.scan_extract(f, "DJS").rows == D.scan_extract(f, "DHS").rows == 2
    f.write_bytes(b"")
    assert D.scan_extract(f, "DJS") == D.Scan(0, 0, False, None)


def test_a_parquet_file_cut_short_is_one_line(small_night: Path, tmp_path: Path) -> None:
    src = next(small_night.glob("dpscs_*.parquet"))
    cut = tmp_path / src.name
    cut.write_bytes(src.read_bytes()[:-40])
    with pytest.raises(D.DeliveryError, match="not a complete Parquet file") as err:
        D.scan_extract(cut, "DPSCS")
    assert cut.name in str(err.value) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- growing files


def test_a_file_still_being_written_is_found_and_a_quiet_one_is_not(tmp_path: Path) -> None:
    quiet, growing = tmp_path / "quiet.txt", tmp_path / "growing.txt"
    quiet.write_bytes(b"x\n")
    growing.write_bytes(b"x\n")
    stop = threading.Event()

    def write() -> None:
        while not stop.wait(0.02):
            with growing.open("ab") as fh:
                fh.write(b"more\n")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.1)                             # the transfer is under way
        start = time.monotonic()
        found = D.still_growing([quiet, growing], 0.3)
    finally:
        stop.set()
        writer.join()
    assert list(found) == [growing] and "bytes in 0.3 s" in found[growing]
    assert 0.2 <= time.monotonic() - start < 2
    _age(quiet, growing)
    start = time.monotonic()
    assert D.still_growing([quiet, growing], 60) == {}             # old files: no wait
    assert time.monotonic() - start < 0.5


# --------------------------------------------------------------------------- the night


def test_an_early_file_of_a_later_night_does_not_block_the_complete_night(
        small_night: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _night(small_night, folder)
    early = folder / f"djs_youth_{LATER}.txt"
    early.write_bytes(b"youth_id|...\n")
    night, paths, waiting = D.choose_night(folder, None, 0.3)
    assert night == NIGHT and paths["DJS"].name == f"djs_youth_{NIGHT}.txt"
    assert waiting == [f"{LATER} has only DJS"]
    with pytest.raises(ContractError, match=f"dhs_clients_{LATER}.csv: extract file is "
                                            "missing"):
        D.choose_night(folder, LATER, 0.3)                       # named: it must be whole


def test_a_night_still_being_written_waits_and_the_one_before_runs(
        small_night: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _night(small_night, folder)
    later = _night(small_night, folder, LATER)
    stop = threading.Event()

    def write() -> None:
        while not stop.wait(0.02):
            with later["DJS"].open("ab") as fh:
                fh.write(b"Y")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.1)                             # the transfer is under way
        night, _, waiting = D.choose_night(folder, None, 0.3)
        with pytest.raises(D.DeliveryError, match="still being written") as err:
            D.choose_night(folder, LATER, 0.3)
    finally:
        stop.set()
        writer.join()
    assert night == NIGHT
    assert waiting == [f"{LATER}: djs_youth_{LATER}.txt is still being written"]
    assert f"djs_youth_{LATER}.txt: still being written" in err.value.one_line()


def test_a_published_night_is_nothing_new_and_other_files_need_force(
        small_night: Path, tmp_path: Path) -> None:
    folder, root = tmp_path / "in", tmp_path / "runs"
    paths = _night(small_night, folder)
    run = _published(root, NIGHT, paths)
    settings = _settings(tmp_path)
    plan = D.preflight(folder, root, None, settings, "k1-test")
    assert plan.published == run and plan.record is None
    assert plan.note == (f"nothing new: night {NIGHT} (the newest complete night) is already "
                         f"published in {run} -- --force runs it again")
    forced = D.preflight(folder, root, None, settings, "k1-test", force=True)
    assert forced.published is None and forced.record["agencies"]["DJS"]["rows"] > 0
    paths["DHS"].write_bytes(paths["DHS"].read_bytes() + b"\n")          # a resend
    _age(paths["DHS"])
    with pytest.raises(RunFolderError, match=f"night {NIGHT} is already published, from "
                                             "other files than tonight's \\(DHS differ\\)"):
        D.preflight(folder, root, None, settings, "k1-test")


def test_preflight_says_which_night_and_what_waits(small_night: Path, tmp_path: Path) -> None:
    folder, root = tmp_path / "in", tmp_path / "runs"
    paths = _night(small_night, folder)
    _published(root, "20261124", rows={a: D.scan_extract(p, a).rows for a, p in paths.items()})
    (folder / f"dpscs_offenders_{LATER}.parquet").write_bytes(b"PAR1")
    plan = D.preflight(folder, root, None, _settings(tmp_path), "k1-test")
    assert plan.published is None and plan.night == NIGHT
    assert plan.note == (f"night {NIGHT} (the newest complete night) in {folder}; not yet: "
                         f"{LATER} has only DPSCS")
    assert plan.record["reference_night"] == "20261124"
    assert {a: e["change"] for a, e in plan.record["agencies"].items()} == {
        a: 0.0 for a in AGENCIES}


# --------------------------------------------------------------------------- control files


def _control(path: Path, rows: int, digest: str) -> Path:
    ctl = D.control_path(path)
    ctl.write_text(f"rows={rows}\nsha256={digest}\n")
    _age(ctl)
    return ctl


def test_a_control_file_must_match(small_night: Path, tmp_path: Path) -> None:
    folder, root = tmp_path / "in", tmp_path / "runs"
    paths = _night(small_night, folder)
    settings = _settings(tmp_path)
    djs = paths["DJS"]
    rows = D.scan_extract(djs, "DJS").rows
    ctl = _control(djs, rows, D.sha256_file(djs))
    record = D.check_extracts(paths, root, NIGHT, settings)
    assert record["agencies"]["DJS"]["control_file"] == ctl.name
    _control(djs, rows + 1, D.sha256_file(djs))
    with pytest.raises(D.DeliveryError) as err:
        D.check_extracts(paths, root, NIGHT, settings)
    line = err.value.one_line()
    assert line.startswith(f"{djs}: does not match its control file {ctl.name} (")
    assert f"{rows:,} data rows, {rows + 1:,} declared" in line and "\n" not in line
    _control(djs, rows, "0" * 64)
    with pytest.raises(D.DeliveryError, match="sha256 .* declared"):
        D.check_extracts(paths, root, NIGHT, settings)
    ctl.write_text("rows=12\n")
    with pytest.raises(D.DeliveryError, match="control file is not the two lines"):
        D.check_extracts(paths, root, NIGHT, settings)


def test_a_matching_control_file_vouches_for_a_file_without_a_final_line_end(
        tmp_path: Path) -> None:
    f = tmp_path / f"djs_youth_{NIGHT}.txt"
    f.write_bytes(b"h|x\nY1|a\nY2|b")
    scan = D.scan_extract(f, "DJS", with_sha256=True)
    with pytest.raises(D.DeliveryError, match="ends mid-row"):
        D.check_extracts({"DJS": f}, tmp_path / "runs", NIGHT, _settings(tmp_path))
    _control(f, 2, scan.sha256)
    assert D.check_extracts({"DJS": f}, tmp_path / "runs", NIGHT,
                            _settings(tmp_path))["agencies"]["DJS"]["rows"] == 2
    D.control_path(f).unlink()
    assert D.check_extracts({"DJS": f}, tmp_path / "runs", NIGHT, _settings(
        tmp_path, "require_final_line_end = false\n"))["agencies"]["DJS"]["rows"] == 2


# --------------------------------------------------------------------------- volume


def test_a_drop_in_rows_stops_the_night_unless_accepted(small_night: Path,
                                                        tmp_path: Path) -> None:
    folder, root = tmp_path / "in", tmp_path / "runs"
    paths = _night(small_night, folder, LATER)
    full = {a: D.scan_extract(p, a).rows for a, p in paths.items()}
    _published(root, NIGHT, rows=full)
    lines = paths["DJS"].read_bytes().splitlines(keepends=True)
    paths["DJS"].write_bytes(b"".join(lines[:len(lines) // 2]))     # cut at a line end
    settings = _settings(tmp_path)
    now = D.scan_extract(paths["DJS"], "DJS").rows
    with pytest.raises(D.DeliveryError) as err:
        D.check_extracts(paths, root, LATER, settings)
    line = err.value.one_line()
    drop = 100 * (full["DJS"] - now) / full["DJS"]
    assert line.startswith(f"{paths['DJS']}: rows fell by more than 20 % since the last "
                           f"night: DJS {now:,} data rows against {full['DJS']:,} on {NIGHT} "
                           f"({drop:.1f} % fewer)")
    assert "--accept-volume-change DJS" in line and "\n" not in line
    record = D.check_extracts(paths, root, LATER, settings, ["DJS"])
    assert record["agencies"]["DJS"]["accepted"] is True
    assert record["agencies"]["DJS"]["previous_rows"] == full["DJS"]
    assert record["agencies"]["DHS"]["accepted"] is False
    # a smaller drop passes, and so does one within a looser limit
    assert D.check_extracts(paths, root, LATER, _settings(tmp_path, "max_drop = 0.6\n"))
    with pytest.raises(ConfigError, match="unknown agency 'DSS'"):
        D.accepted_agencies(["djs", "DSS"])
    assert D.accepted_agencies(["djs", " DJS"]) == ["DJS"]


def test_history_takes_the_newest_run_of_each_earlier_night(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for night, stamp, rows in (("20261123", "T01", 90), ("20261124", "T01", 95),
                               ("20261124", "T02", 100), ("20261125", "T01", 10)):
        run = root / f"{night}-20261201{stamp}0000Z-abc123"
        run.mkdir(parents=True)
        (run / "manifest.json").write_text(json.dumps({"counts": {"DJS": {"rows_read": rows}}}))
    (root / ".20261124-20261201T030000Z-abc123.partial").mkdir()
    (root / "20261122-20261201T010000Z-abc123").mkdir()              # no manifest
    history = D.volume_history(root, "20261125", 7)
    assert [(h["night"], h["rows"]["DJS"]) for h in history] == [("20261123", 90),
                                                                 ("20261124", 100)]
    assert [h["night"] for h in D.volume_history(root, "20261125", 1)] == ["20261124"]


def test_delivery_settings_are_checked(tmp_path: Path) -> None:
    for text, fragment in (("max_drop = 1.5\n", "delivery.max_drop must be a share"),
                           ("settle_seconds = -1\n", "must not be negative"),
                           ("history_nights = 0\n", "history_nights must be a whole number")):
        with pytest.raises(ConfigError, match=fragment):
            _settings(tmp_path, text)
