"""The nightly schedule fires on a real Prefect server: `sst-link serve` registers the
deployment and the server's scheduler puts the next nights in SCHEDULED at 02:00 New York
time, one a night, across both daylight-saving changes.

A deployment object can be right while the server never schedules it (SQLAlchemy 2.1 broke
Prefect 3.8's scheduler service), so this starts the server the README tells a steward to
start and reads the flow runs back through its API.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

pytestmark = pytest.mark.e2e

NEW_YORK = ZoneInfo("America/New_York")
# Far enough ahead to hold the next spring-forward and fall-back change from any start date.
HORIZON_DAYS = 400


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api(url: str, body: dict | None = None) -> object:
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"},
                                 method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _wait(what: str, check, seconds: float, procs: list[subprocess.Popen],
          log: Path) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args[2:4]} exited ({proc.returncode}) while "
                                     f"waiting for {what}: {log.read_text()[-2000:]}")
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}: "
                         f"{log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen, timeout: float = 15) -> float:
    """SIGTERM, then how long the process took to end (SIGKILL after ``timeout``)."""
    if proc.poll() is not None:
        return 0.0
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return time.monotonic() - start


def _dst_changes(start: dt.date, days: int) -> list[dt.date]:
    """New York dates whose UTC offset at noon differs from the day before's."""
    out = []
    for i in range(1, days):
        day = start + dt.timedelta(days=i)
        noon = dt.datetime.combine(day, dt.time(12), NEW_YORK)
        if noon.utcoffset() != (noon - dt.timedelta(days=1)).utcoffset():
            out.append(day)
    return out


def test_serve_schedules_every_night_at_two_new_york_time_across_dst(tmp_path: Path) -> None:
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ,
           "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false",
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "3",
           # the scheduler makes the fewest runs that reach both minimums, so ask for a year
           "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": str(HORIZON_DAYS),
           "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_SCHEDULED_TIME": f"P{HORIZON_DAYS}D",
           "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": str(HORIZON_DAYS + 10),
           "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME": f"P{HORIZON_DAYS + 10}D"}
    log = tmp_path / "server.log"
    config = tmp_path / "nightly.toml"
    config.write_text(f'[schedule]\nextracts = "{tmp_path}/in"\nout = "{tmp_path}/runs"\n')
    (tmp_path / "in").mkdir()
    procs: list[subprocess.Popen] = []
    with log.open("w") as server_log:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port)], env=env, stdout=server_log, stderr=subprocess.STDOUT,
            start_new_session=True)
        procs.append(server)
        try:
            _wait("the Prefect server", lambda: _api(f"{api}/health") is True, 120, procs, log)
            serve = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "serve", "--config", str(config)],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                start_new_session=True)
            procs.append(serve)

            def scheduled() -> list[dict]:
                runs = _api(f"{api}/flow_runs/filter",
                            {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                             "sort": "EXPECTED_START_TIME_ASC", "limit": 200})
                more = _api(f"{api}/flow_runs/filter",
                            {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                             "sort": "EXPECTED_START_TIME_ASC", "limit": 200, "offset": 200})
                runs = [*runs, *more]
                return runs if len(runs) >= 370 else []

            runs = _wait("a year of SCHEDULED nightly runs", scheduled, 180, procs, log)
            stop_seconds = _stop(serve)
        finally:
            for proc in reversed(procs):
                _stop(proc)
    assert "bulk DML" not in log.read_text(), "the server's scheduler failed"

    starts = [dt.datetime.fromisoformat(r["expected_start_time"]).astimezone(NEW_YORK)
              for r in runs]
    assert {r["deployment_id"] for r in runs} and len({r["deployment_id"] for r in runs}) == 1
    days = [s.date() for s in starts]
    assert len(days) == len(set(days)), "a night is scheduled twice"
    assert all((b - a).days == 1 for a, b in zip(days, days[1:])), "a night is skipped"
    changes = _dst_changes(days[0], len(days))
    assert len(changes) >= 2, "the scheduled year does not cross both DST changes"
    for start in starts:
        if start.date() in changes and start.month < 7:
            # 02:00 does not exist on the spring-forward night; Prefect's cron schedule runs
            # that night in the hour before the gap (01:00 EST), once (README, Scheduling).
            assert (start.hour, start.minute, start.utcoffset()) == (
                1, 0, dt.timedelta(hours=-5)), start
        else:
            assert (start.hour, start.minute) == (2, 0), start
    assert stop_seconds < 10, f"serve took {stop_seconds:.1f} s to stop on SIGTERM"
