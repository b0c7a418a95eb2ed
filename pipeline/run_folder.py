"""Run folders that are complete or absent.

A run writes into ``ROOT/.<run id>.partial/`` and, once every output is there, writes
``manifest.json`` last and renames the folder to ``ROOT/<run id>/`` (one atomic rename on
one file system). A failed or killed run leaves at most a dot-named ``.partial`` folder
without a manifest, which the next run into the same root removes. One run at a time per
root: an exclusive ``flock`` on ``ROOT/.sst-run.lock``; a second run waits up to
``lock_wait_seconds`` and then refuses with a clear message.

The agency-side staging folder (``ROOT/.agency-side/<run id>/``, mode 0700) holds the
person frames between the contract and the encoder; it holds PII, is never part of the run
folder, and is removed when the run ends unless ``keep_staging`` is set. The exchange
folder (``ROOT/.exchange/<run id>/``) holds the encoded extracts the linkage side reads: the
only files the two sides share.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import shutil
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from data_contracts import RunFolderError
from data_contracts._contract import sha256_file

MANIFEST = "manifest.json"
LINKAGE_RECORDS = "linkage_records.parquet"
LINKAGE_MODEL = "linkage_model.json"
LINKAGE_PAIRS = "linkage_pairs.parquet"
ROSTER = "shared_family_roster.parquet"
ID_STATE = "id_state.parquet"
"""Files of a run folder that later stages and the report read back (one place for the
names; this module imports no linkage code, so the report can use them cheaply)."""

LOCK_NAME = ".sst-run.lock"
AGENCY_SIDE = ".agency-side"
EXCHANGE = ".exchange"


def finished_runs(root: Path) -> list[Path]:
    """The finished run folders of an output root (named by run id, holding a manifest),
    oldest first: run ids sort by night, then by start time."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and p.name[:8].isdigit() and p.name[8:9] == "-"
                  and (p / MANIFEST).is_file())


def read_manifest(run: Path) -> dict[str, Any]:
    """A run folder's manifest; empty where it cannot be read (a damaged or foreign one)."""
    try:
        data = json.loads((Path(run) / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def software_version() -> str:
    """Installed version of sst-linkage (recorded in the manifest and the report)."""
    try:
        return metadata.version("sst-linkage")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def new_run_id(night: str, now: datetime | None = None) -> str:
    """``<night>-<UTC start>-<6 hex>``: sorts by night, then start; never repeats."""
    now = now or datetime.now(UTC)
    return f"{night}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


sha256_of = sha256_file
"""Hex SHA-256 of a file (the contracts' fingerprint function)."""


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (0600), created that way from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class RunFolder:
    """Context manager for one run's output folder (see the module docstring).

    Args:
        root: output root; created if missing.
        night: ``YYYYMMDD`` of the extracts.
        lock_wait_seconds: how long to wait for another run into the same root.
        keep_staging: keep the agency-side staging folder after the run.

    Example:
        >>> with RunFolder(root, "20261125") as run:          # doctest: +SKIP
        ...     (run.partial / "quarantine.csv").write_text("...")
        ...     run.commit({"run_id": run.run_id})
    """

    def __init__(self, root: Path, night: str, *, lock_wait_seconds: float = 0,
                 keep_staging: bool = False) -> None:
        self.root = Path(root)
        self.night = night
        self.lock_wait_seconds = lock_wait_seconds
        self.keep_staging = keep_staging
        self.run_id = ""
        self._lock_fd: int | None = None
        self.committed = False

    @property
    def partial(self) -> Path:
        """Where outputs are written while the run is going."""
        return self.root / f".{self.run_id}.partial"

    @property
    def final(self) -> Path:
        """The run folder once complete."""
        return self.root / self.run_id

    @property
    def staging(self) -> Path:
        """Agency-side staging folder (PII; mode 0700; removed at the end)."""
        return self.root / AGENCY_SIDE / self.run_id

    @property
    def exchange(self) -> Path:
        """Where the agency side leaves encoded extracts for the linkage side (no PII;
        mode 0750; removed at the end with the staging folder)."""
        return self.root / EXCHANGE / self.run_id

    def _lock(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise RunFolderError(f"cannot use the output root ({exc.strerror})",
                                 where=str(self.root), hint="check the path and permissions"
                                 ) from None
        deadline = time.monotonic() + self.lock_wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise RunFolderError(
                        "another run is writing into this output root", where=str(self.root),
                        hint="wait for it to finish, or raise run.lock_wait_seconds") from None
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        self._lock_fd = fd

    def _remove_stale(self) -> None:
        """With the lock held, no other run is going: leftovers of killed runs go."""
        for p in self.root.glob(".*.partial"):
            shutil.rmtree(p, ignore_errors=True)
        for side in (self.root / AGENCY_SIDE, self.root / EXCHANGE):
            if side.is_dir():
                for p in side.iterdir():
                    if p.name != self.run_id:
                        shutil.rmtree(p, ignore_errors=True)

    def __enter__(self) -> RunFolder:
        self._lock()
        try:
            self._remove_stale()
            self.run_id = new_run_id(self.night)
            while self.final.exists() or self.partial.exists():  # pragma: no cover
                self.run_id = new_run_id(self.night)
            self.partial.mkdir(mode=0o755)
            for folder, mode in ((self.root / AGENCY_SIDE, 0o700), (self.staging, 0o700),
                                 (self.root / EXCHANGE, 0o750), (self.exchange, 0o750)):
                folder.mkdir(mode=mode, exist_ok=True)
                os.chmod(folder, mode)          # also when it existed with wider modes
        except BaseException:
            self._release()
            raise
        return self

    def output_fingerprints(self) -> dict[str, dict[str, Any]]:
        """Name, size and SHA-256 of every file written so far."""
        return {p.name: {"bytes": p.stat().st_size, "sha256": sha256_of(p)}
                for p in sorted(self.partial.iterdir()) if p.is_file()}

    def commit(self, manifest: dict[str, Any]) -> Path:
        """Write ``manifest.json`` last, then rename the folder into place.

        Args:
            manifest: JSON-able content; the outputs' fingerprints are added here.

        Returns:
            The final run folder.
        """
        manifest = {**manifest, "outputs": self.output_fingerprints()}
        tmp = self.partial / f"{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.rename(self.partial / MANIFEST)
        os.rename(self.partial, self.final)
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.committed = True
        return self.final

    def _release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if not self.committed:
                shutil.rmtree(self.partial, ignore_errors=True)
            if not self.keep_staging:
                shutil.rmtree(self.staging, ignore_errors=True)
                shutil.rmtree(self.exchange, ignore_errors=True)
        finally:
            self._release()
