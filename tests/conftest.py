"""Shared fixtures: one small synthetic night per session, one Prefect test harness."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

SMALL_SEED = 11
NIGHT = "20261125"


@pytest.fixture(scope="session")
def small_night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic night (extracts + truth/), generated once per session."""
    from pipeline.synth import generate_night

    folder = tmp_path_factory.mktemp("small_night")
    generate_night(folder, seed=SMALL_SEED, scale="small", night=NIGHT)
    return folder


@pytest.fixture(scope="session", autouse=True)
def linkage_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linkage key for the session, named by SST_LINKAGE_KEY_FILE as a steward would."""
    from hashing import LinkageKey

    path = tmp_path_factory.mktemp("key") / "linkage.key"
    LinkageKey.generate(path)
    old = os.environ.get("SST_LINKAGE_KEY_FILE")
    os.environ["SST_LINKAGE_KEY_FILE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SST_LINKAGE_KEY_FILE", None)
    else:
        os.environ["SST_LINKAGE_KEY_FILE"] = old


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory):
    """A temporary Prefect database and server for the whole session (~12 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
