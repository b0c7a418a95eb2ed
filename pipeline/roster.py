"""The de-identified shared-family roster and its ids, stable from night to night.

``shared_family_roster.parquet`` (contract: ``shared/specs/outputs.md``) holds one row per
record of a multi-system family: ``family_id``, ``person_id``, ``agency``, ``record_id``,
``systems``, ``community`` and ``link_probability``.

**Stable ids.** The link stage numbers persons and families afresh each night. This module
turns those numbers into opaque ids that survive from one night to the next:

* Every record is known by a *record pseudonym*: keyed SipHash-2-4 of ``agency`` and
  ``record_id`` under the *state key*, a linkage-side secret (``ROOT/.sst-state.key``,
  mode 0600, made on the first run; it is not the linkage key, which the linkage side never
  holds). The pseudonym names no one and cannot be turned back into a record id without
  that key.
* Each run writes ``id_state.parquet`` into its run folder (so it is committed with the run,
  or not at all): per record of the night, its pseudonym, ``person_id`` and ``family_id``
  and the night each id was first issued. The next night starts from the newest complete
  run of an *earlier* night in the same output root (a rerun of a night therefore starts
  from the same state as its first run, and gives the same ids).
* A group (family or person) of tonight inherits an id of last night when their members
  overlap. Each old id goes to the group that holds most of its records (a split keeps the
  id on the larger part); a group claimed by several old ids keeps the oldest (a merge
  keeps the older id; of ids issued the same night, the one holding most of its records,
  then the first in the state); an old id that lost goes to its next-largest group still
  without an id. Groups left without one get a new id: keyed SipHash of the group's smallest record
  pseudonym, so a rerun from the same state issues the same new ids.

Everything here is vectorized over records (pandas merges and group-bys on integer codes);
the only loop is over the few assignment rounds.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data_contracts import RunFolderError
from hashing._kernels import siphash24_rows, siphash_strings

from .run_folder import ID_STATE, finished_runs

STATE_KEY = ".sst-state.key"
_STATE_KEY_PREFIX = "sst-state-key-v1:"

ROSTER_SCHEMA = pa.schema([
    ("family_id", pa.string()), ("person_id", pa.string()), ("agency", pa.string()),
    ("record_id", pa.string()), ("systems", pa.string()), ("community", pa.string()),
    ("link_probability", pa.float64()),
])
"""Columns and types of ``shared_family_roster.parquet``, in order (the output contract)."""

STATE_SCHEMA = pa.schema([
    ("record", pa.uint64()), ("person_id", pa.string()), ("person_issued", pa.string()),
    ("family_id", pa.string()), ("family_issued", pa.string()),
])
"""Columns of ``id_state.parquet``: record pseudonym, ids and the night each was issued."""

_ROUNDS = 8
"""Assignment rounds: each lets ids that lost a group try their next-best one."""


def state_key(root: Path, *, create: bool = True) -> bytes:
    """The output root's state key (16 bytes); created 0600 on first use when ``create``.

    Raises:
        RunFolderError: the file is missing and must not be created (earlier runs hold id
            state made with it), is readable by others, or is malformed.
    """
    path = Path(root) / STATE_KEY
    if not path.exists():
        if not create:
            raise RunFolderError(
                "the state key is missing but earlier runs hold id state made with it",
                where=str(path), hint="restore .sst-state.key from backup (a new key would "
                "give every family and person a new id); to restart ids on purpose, move "
                "the earlier run folders out of the output root")
        secret = secrets.token_bytes(16)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(_STATE_KEY_PREFIX + secret.hex() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)          # whole or absent; fails if another run made one
        except FileExistsError:
            return state_key(root)
        finally:
            tmp.unlink(missing_ok=True)
        return secret
    if path.stat().st_mode & 0o077:
        raise RunFolderError("the state key file is readable by others", where=str(path),
                             hint=f"chmod 600 {path}")
    text = path.read_text().strip()
    if not text.startswith(_STATE_KEY_PREFIX) or len(text) != len(_STATE_KEY_PREFIX) + 32:
        raise RunFolderError("the state key file is malformed", where=str(path),
                             hint="restore it from backup; without it ids restart")
    return bytes.fromhex(text[len(_STATE_KEY_PREFIX):])


def record_pseudonyms(agency: pd.Series, record_id: pd.Series, key: bytes) -> np.ndarray:
    """Keyed 64-bit pseudonym of each ``(agency, record_id)`` (see the module docstring)."""
    text = agency.astype(str).str.cat(record_id.astype(str), sep="\x1f")
    return siphash_strings(key, pa.array(text.to_numpy(dtype=object), type=pa.string()))


def previous_state(root: Path, night: str) -> tuple[pd.DataFrame | None, str | None]:
    """The id state of the newest complete run of an earlier night in ``root``.

    Returns:
        The state frame (``STATE_SCHEMA``) and that run's id, or ``(None, None)`` on the
        first night.
    """
    runs = [p for p in finished_runs(root) if p.name[:8] < night and (p / ID_STATE).is_file()]
    if not runs:
        return None, None
    try:
        state = pq.read_table(runs[-1] / ID_STATE).to_pandas()
    except (OSError, pa.ArrowException):
        raise RunFolderError("the previous run's id state cannot be read",
                             where=str(runs[-1] / ID_STATE),
                             hint="restore that run folder from backup, or move it out of the "
                                  "output root so the night before it is used") from None
    if list(state.columns) != STATE_SCHEMA.names:
        raise RunFolderError("the previous run's id state has other columns",
                             where=str(runs[-1] / ID_STATE),
                             hint="move that run folder out of the output root")
    return state, runs[-1].name


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_ids(prefix: str, values: np.ndarray) -> np.ndarray:
    """``prefix`` + 16 lower-case hex digits of each uint64, vectorized."""
    raw = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    text = np.empty((len(values), 17), dtype=np.uint8)
    text[:, 0] = ord(prefix)
    text[:, 1::2] = _HEX[raw >> 4]
    text[:, 2::2] = _HEX[raw & 15]
    return text.view("S17").ravel().astype(str).astype(object)


def _new_ids(prefix: str, smallest: np.ndarray, key: bytes, taken: pd.Index) -> np.ndarray:
    """Ids of new groups from their smallest record pseudonym; rehashed on a collision with
    an id in ``taken`` (unique) or another new one."""
    ids = np.empty(len(smallest), dtype=object)
    todo = np.arange(len(smallest))
    issued: set[str] = set()
    salt = 0
    while len(todo):
        n = len(todo)
        h = siphash24_rows(key, [np.full(n, ord(prefix), np.uint64), smallest[todo],
                                 np.full(n, salt, np.uint64)])
        cand = _hex_ids(prefix, h)
        index = pd.Index(cand)
        ok = ~index.duplicated(keep="first") & (taken.get_indexer(index) < 0)
        if issued:
            ok &= ~index.isin(issued)
        ids[todo[ok]] = cand[ok]
        issued.update(cand[ok].tolist())
        todo = todo[~ok]
        salt += 1
    return ids


@dataclass
class Assignment:
    """Ids given to tonight's groups, and how they relate to last night's."""

    ids: np.ndarray
    """Per record: the id of its group."""
    issued: np.ndarray
    """Per record: the night its group's id was first issued."""
    stats: dict[str, int]
    """``groups``, ``kept`` (an old id carried on), ``new``, ``retired`` (old ids not
    carried: gone, or merged into an older one)."""


def assign_ids(group: np.ndarray, record: np.ndarray, prev: pd.DataFrame | None,
               id_col: str, issued_col: str, *, prefix: str, night: str,
               key: bytes) -> Assignment:
    """Stable ids for tonight's groups (see the module docstring for the rules).

    Args:
        group: per record, tonight's group number (person or family).
        record: per record, its pseudonym (:func:`record_pseudonyms`).
        prev: last night's state, or ``None``.
        id_col, issued_col: the state's columns for this kind of group.
        prefix: first letter of new ids (``F`` families, ``P`` persons).
        night: tonight, recorded as the issue night of new ids.
        key: the state key.
    """
    group = np.asarray(group, dtype=np.int64)
    codes, groups = pd.factorize(group, sort=True)           # dense group codes 0..G-1
    owner = np.full(len(groups), -1, dtype=np.int64)          # group code -> old id code
    old_ids = np.empty(0, dtype=object)
    old_issued = np.empty(0, dtype=object)
    if prev is not None and len(prev):
        # everything below works on integer codes: old ids factorized once, their issue
        # night and their place in id order as integers (statewide, sorting two million
        # id strings per round was most of the stage's time)
        old_code, old_ids = pd.factorize(prev[id_col])       # first-seen order (stable)
        night_code, nights = pd.factorize(prev[issued_col])  # a few distinct nights
        night_int = pd.to_numeric(pd.Series(nights), errors="coerce").fillna(0) \
            .astype(np.int64).to_numpy()
        first_row = np.full(len(old_ids), -1, dtype=np.int64)
        first_row[old_code[::-1]] = np.arange(len(old_code))[::-1]   # each id's first row
        old_issued = np.asarray(nights, dtype=object)[night_code[first_row]]
        issued_int = night_int[night_code[first_row]]
        ov = (pd.DataFrame({"record": record, "group": codes})
              .merge(pd.DataFrame({"record": prev["record"].to_numpy(), "old": old_code}),
                     on="record")
              .groupby(["group", "old"], sort=False).size().rename("n").reset_index())
        ov["issued"] = issued_int[ov["old"].to_numpy()]
        old_taken = np.zeros(len(old_ids), dtype=bool)
        for _ in range(_ROUNDS):
            free = ov[(owner[ov["group"].to_numpy()] < 0) & ~old_taken[ov["old"].to_numpy()]]
            if free.empty:
                break
            # each old id proposes to the free group holding most of its records
            best = free.sort_values(["old", "n", "group"], ascending=[True, False, True]) \
                .drop_duplicates("old")
            # each group keeps the oldest id that proposed to it (of ids issued the same
            # night, the one holding most of its records)
            won = best.sort_values(["group", "issued", "n", "old"],
                                   ascending=[True, True, False, True]).drop_duplicates("group")
            owner[won["group"].to_numpy()] = won["old"].to_numpy()
            old_taken[won["old"].to_numpy()] = True
    kept = owner >= 0
    fresh = np.flatnonzero(~kept)
    smallest = pd.Series(record).groupby(codes).min().to_numpy(np.uint64)
    new = _new_ids(prefix, smallest[fresh], key, pd.Index(old_ids))
    ids = np.empty(len(groups), dtype=object)
    issued = np.empty(len(groups), dtype=object)
    ids[kept], issued[kept] = old_ids[owner[kept]], old_issued[owner[kept]]
    ids[fresh], issued[fresh] = new, night
    return Assignment(ids=ids[codes], issued=issued[codes],
                      stats={"groups": len(groups), "kept": int(kept.sum()),
                             "new": len(fresh), "retired": len(old_ids) - int(kept.sum())})


def build_roster(records: pd.DataFrame, root: Path, night: str
                 ) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """Roster and id state of one night.

    Args:
        records: ``linkage_records.parquet`` as a frame (one row per record).
        root: the output root (where the state key and earlier runs are).
        night: ``YYYYMMDD``.

    Returns:
        The roster table (``ROSTER_SCHEMA``), the new id state (``STATE_SCHEMA``) and
        counts: roster rows, persons and families, and the id carry-over of persons and
        families since the run the state came from.
    """
    prev, prev_run = previous_state(root, night)
    key = state_key(root, create=prev is None)
    pseudo = record_pseudonyms(records["agency"], records["record_id"], key)
    fam = assign_ids(records["family"].to_numpy(), pseudo, prev, "family_id", "family_issued",
                     prefix="F", night=night, key=key)
    per = assign_ids(records["person"].to_numpy(), pseudo, prev, "person_id", "person_issued",
                     prefix="P", night=night, key=key)
    state = pa.Table.from_pandas(pd.DataFrame({
        "record": pseudo, "person_id": per.ids, "person_issued": per.issued,
        "family_id": fam.ids, "family_issued": fam.issued}), schema=STATE_SCHEMA,
        preserve_index=False)
    multi = records["multi_system"].to_numpy(bool)
    roster = pd.DataFrame({
        "family_id": fam.ids[multi], "person_id": per.ids[multi],
        "agency": records["agency"].to_numpy()[multi],
        "record_id": records["record_id"].to_numpy()[multi],
        "systems": records["systems"].to_numpy()[multi],
        "community": records["community"].to_numpy()[multi],
        "link_probability": records["link_probability"].to_numpy(float)[multi],
    }).sort_values(["family_id", "person_id", "agency", "record_id"], kind="stable")
    table = pa.Table.from_pandas(roster, schema=ROSTER_SCHEMA, preserve_index=False)
    counts = {"rows": len(roster), "persons": int(roster["person_id"].nunique()),
              "families": int(roster["family_id"].nunique()),
              "previous_run": prev_run, "family_ids": fam.stats, "person_ids": per.stats}
    return table, state, counts
