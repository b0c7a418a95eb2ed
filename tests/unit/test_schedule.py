"""The nightly deployment a steward serves (schedule, one run at a time, clear errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_contracts import ConfigError


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "serve.toml"
    path.write_text(f'[schedule]\nextracts = "{tmp_path}/in"\nout = "{tmp_path}/runs"\n{extra}')
    return path


def test_deployment_runs_nightly_at_two_new_york_time_one_at_a_time(tmp_path: Path) -> None:
    from flows import nightly_deployment

    config = _config(tmp_path)
    dep = nightly_deployment(str(config))
    assert dep.name == "nightly" and dep.entrypoint == "flows.py:nightly_linkage"
    (sched,) = dep.schedules
    assert sched.schedule.cron == "0 2 * * *"
    assert sched.schedule.timezone == "America/New_York"
    assert dep.concurrency_limit == 1
    assert dep.concurrency_options.collision_strategy.value == "ENQUEUE"
    assert dep.parameters == {"extracts": str(tmp_path / "in"), "out": str(tmp_path / "runs"),
                              "config": str(config)}


def test_schedule_is_configurable(tmp_path: Path) -> None:
    from flows import nightly_deployment

    dep = nightly_deployment(str(_config(tmp_path, 'cron = "30 23 * * 1-5"\n'
                                                   'timezone = "UTC"\n')))
    assert (dep.schedules[0].schedule.cron, dep.schedules[0].schedule.timezone) == (
        "30 23 * * 1-5", "UTC")


@pytest.mark.parametrize("extra, match", [
    ('timezone = "Mars/Olympus"\n', "schedule is not valid"),
    ('cron = "0 25 * * *"\n', "schedule is not valid"),
])
def test_bad_schedule_is_a_config_error(tmp_path: Path, extra: str, match: str) -> None:
    from flows import nightly_deployment

    with pytest.raises(ConfigError, match=match):
        nightly_deployment(str(_config(tmp_path, extra)))


def test_serving_needs_folders_and_a_server(tmp_path: Path, monkeypatch) -> None:
    from pipeline.cli import app

    runner = CliRunner()
    no_folders = runner.invoke(app, ["serve"])
    assert no_folders.exit_code == 2 and "schedule.extracts is not set" in no_folders.stderr
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    no_server = runner.invoke(app, ["serve", "--config", str(_config(tmp_path))])
    assert no_server.exit_code == 2 and "prefect server start" in no_server.stderr
    assert len(no_server.stderr.strip().splitlines()) == 1
