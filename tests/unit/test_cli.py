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
