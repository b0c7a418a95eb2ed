"""The command line: --help everywhere, one-line errors with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command,option", [("synth", "--scale"), ("run", "--extracts"),
                                            ("check", "--agency")])
def test_every_subcommand_has_help(command: str, option: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert option in result.output


def test_top_level_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("synth", "run", "check"):
        assert command in result.output


def test_check_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "dhs_clients_20261125.csv"
    result = runner.invoke(app, ["check", str(missing), "--agency", "DHS"])
    assert result.exit_code == 2
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "extract file is missing" in lines[0]
    assert "Traceback" not in result.output


def test_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[ingest]\nnope = 1\n")
    f = tmp_path / "dhs_clients_20261125.csv"
    f.write_text("x\n")
    result = runner.invoke(app, ["check", str(f), "--agency", "DHS", "--config", str(cfg)])
    assert result.exit_code == 2 and "unknown setting ingest.nope" in result.stderr


def test_version_and_help_texts_say_what_each_command_does() -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    runner = CliRunner()

    def text(*args: str) -> str:
        result = runner.invoke(app, [*args])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.replace("│", " ").split())    # help in boxes

    assert text("--version").startswith("sst-link ")
    assert "the night in the extract's file name" in text("encode", "--help")
    assert "the night in the extract's file name" in text("check", "--help")
    assert "the newest night present" in text("run", "--help")
    assert "SST_LINKAGE_KEY_FILE" in text("run", "--help")
    assert "default: 20261125" in text("synth", "--help")
    serve = text("serve", "--help")
    assert "the config's schedule table" in serve and "is  in" not in serve
    assert "encoded_<agency>_<night>.parquet" in text("encode", "--help")
    assert "identified_roster.<recipient>.enc" in text("decrypt", "--help")


def test_run_with_another_key_stops_in_one_line_before_prefect_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import sys
    import time

    from typer.testing import CliRunner

    from hashing import LinkageKey
    from pipeline.cli import app

    key = tmp_path / "linkage.key"
    LinkageKey.generate(key)
    monkeypatch.setenv("SST_LINKAGE_KEY_FILE", str(key))
    extracts = tmp_path / "in"
    extracts.mkdir()
    for name in ("dhs_clients_20261125.csv", "djs_youth_20261125.txt",
                 "dpscs_offenders_20261125.parquet"):
        (extracts / name).write_bytes(b"")
    run = tmp_path / "runs" / "20261124-20261125T070000Z-abc123"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"linkage_key_id": "k1-0123456789abcdef"}))
    sys.modules.pop("flows", None)
    start = time.monotonic()
    result = CliRunner().invoke(app, ["run", "--extracts", str(extracts), "--out",
                                      str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert "linkage key changed since the last run (k1-0123456789abcdef ->" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "flows" not in sys.modules and time.monotonic() - start < 5    # no Prefect


def _delivered(small_night: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               night: str) -> tuple[Path, dict[str, Path], str]:
    """The small night's extracts as delivered for ``night`` an hour ago, and a key."""
    import os
    import shutil
    import time

    from hashing import LinkageKey

    key = tmp_path / "linkage.key"
    LinkageKey.generate(key)
    monkeypatch.setenv("SST_LINKAGE_KEY_FILE", str(key))
    folder = tmp_path / "in"
    folder.mkdir()
    paths = {}
    for src in small_night.glob("*_20261125.*"):
        dst = folder / src.name.replace("20261125", night)
        shutil.copyfile(src, dst)
        os.utime(dst, (time.time() - 3600,) * 2)
        paths[src.name.split("_")[0].upper()] = dst
    return folder, paths, LinkageKey.load(key).key_id


def _manifest(run: Path, **content: object) -> Path:
    import json

    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps(content))
    return run


def test_run_with_nothing_new_says_where_and_exits_0_before_prefect_starts(
        small_night: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import time

    from pipeline.run_folder import sha256_of

    folder, paths, key_id = _delivered(small_night, tmp_path, monkeypatch, "20261125")
    root = tmp_path / "runs"
    run = _manifest(root / "20261125-20261126T070000Z-abc123", night="20261125",
                    linkage_key_id=key_id,
                    inputs={a: {"sha256": sha256_of(p)} for a, p in paths.items()})
    sys.modules.pop("flows", None)
    start = time.monotonic()
    result = runner.invoke(app, ["run", "--extracts", str(folder), "--out", str(root)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (f"nothing new: night 20261125 (the newest complete "
                                     f"night) is already published in {run} -- --force runs "
                                     "it again")
    assert sorted(p.name for p in root.iterdir()) == [run.name]
    assert "flows" not in sys.modules and time.monotonic() - start < 5    # no Prefect
    help_text = " ".join(runner.invoke(app, ["run", "--help"]).output.replace("│", " ")
                         .split())
    assert "--accept-volume-change" in help_text and "--force" in help_text
    assert '"nothing new"' in help_text and "exit status 0" in help_text


def test_run_stops_on_a_drop_in_rows_in_one_line_before_prefect_starts(
        small_night: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from pipeline.delivery import scan_extract

    folder, paths, key_id = _delivered(small_night, tmp_path, monkeypatch, "20261128")
    rows = {a: scan_extract(p, a).rows for a, p in paths.items()}
    root = tmp_path / "runs"
    _manifest(root / "20261125-20261126T070000Z-abc123", night="20261125",
              linkage_key_id=key_id, counts={a: {"rows_read": n} for a, n in rows.items()})
    lines = paths["DJS"].read_bytes().splitlines(keepends=True)
    paths["DJS"].write_bytes(b"".join(lines[:len(lines) // 3]))
    now = scan_extract(paths["DJS"], "DJS").rows
    sys.modules.pop("flows", None)
    result = runner.invoke(app, ["run", "--extracts", str(folder), "--out", str(root)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert (f"djs_youth_20261128.txt: rows fell by more than 20 % since the last night: DJS "
            f"{now:,} data rows against {rows['DJS']:,} on 20261125") in result.stderr
    assert "--accept-volume-change DJS" in result.stderr
    assert "flows" not in sys.modules
    assert sorted(p.name for p in root.iterdir()) == ["20261125-20261126T070000Z-abc123"]
    wrong = runner.invoke(app, ["run", "--extracts", str(folder), "--out", str(root),
                                "--accept-volume-change", "DSS"])
    assert wrong.exit_code == 2 and "--accept-volume-change: unknown agency 'DSS'" in \
        wrong.stderr
