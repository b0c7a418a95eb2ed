"""Stable family and person ids, the roster's columns and the id state."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from data_contracts import RunFolderError
from pipeline.roster import (
    ROSTER_SCHEMA,
    STATE_KEY,
    assign_ids,
    build_roster,
    previous_state,
    record_pseudonyms,
    state_key,
)
from pipeline.run_folder import ID_STATE

KEY = bytes(range(16))


def _state(records: list[int], ids: list[str], issued: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"record": np.array(records, np.uint64), "family_id": ids,
                         "family_issued": issued})


def _assign(group: list[int], records: list[int], prev: pd.DataFrame | None,
            night: str = "20261126") -> list[str]:
    return assign_ids(np.array(group), np.array(records, np.uint64), prev, "family_id",
                      "family_issued", prefix="F", night=night, key=KEY).ids.tolist()


def test_unchanged_groups_keep_their_ids() -> None:
    prev = _state([1, 2, 3, 4], ["Fa", "Fa", "Fb", "Fb"], ["20261101"] * 4)
    assert _assign([7, 7, 3, 3], [1, 2, 3, 4], prev) == ["Fa", "Fa", "Fb", "Fb"]


def test_split_keeps_the_id_on_the_larger_part() -> None:
    prev = _state([1, 2, 3, 4, 5], ["Fa"] * 5, ["20261101"] * 5)
    ids = _assign([0, 0, 1, 1, 1], [1, 2, 3, 4, 5], prev)
    assert ids[2:] == ["Fa"] * 3
    assert ids[0] == ids[1] and ids[0] not in ("Fa",) and ids[0].startswith("F")


def test_merge_keeps_the_older_id_even_when_smaller() -> None:
    prev = _state([1, 2, 3, 4, 5], ["Fnew", "Fnew", "Fnew", "Fold", "Fold"],
                  ["20261120"] * 3 + ["20261001"] * 2)
    a = assign_ids(np.zeros(5, int), np.arange(1, 6, dtype=np.uint64), prev, "family_id",
                   "family_issued", prefix="F", night="20261126", key=KEY)
    assert set(a.ids) == {"Fold"} and set(a.issued) == {"20261001"}
    assert a.stats == {"groups": 1, "kept": 1, "new": 0, "retired": 1}


def test_an_id_that_lost_its_group_moves_to_its_next_best() -> None:
    # Fb's records went mostly into Fa's group (older Fa wins it); Fb's other part keeps Fb
    prev = _state([1, 2, 3, 4, 5, 6], ["Fa", "Fa", "Fb", "Fb", "Fb", "Fb"],
                  ["20261001"] * 2 + ["20261101"] * 4)
    assert _assign([0, 0, 0, 0, 0, 1], [1, 2, 3, 4, 5, 6], prev) == ["Fa"] * 5 + ["Fb"]


def test_new_ids_are_deterministic_and_distinct() -> None:
    group = np.arange(100_000) // 4
    records = np.arange(100_000, dtype=np.uint64) * 7919
    a = _assign(group.tolist(), records.tolist(), None)
    b = _assign(group.tolist(), records.tolist(), None)
    assert a == b
    assert len(set(a)) == 25_000 and all(len(i) == 17 and i[0] == "F" for i in a[:100])
    other = assign_ids(group, records, None, "family_id", "family_issued", prefix="F",
                       night="20261126", key=bytes(16)).ids
    assert not set(a) & set(other)                  # another state key: unrelated ids


def test_new_id_never_reuses_an_id_in_the_state() -> None:
    fresh = _assign([0], [42], None)[0]
    prev = _state([1], [fresh], ["20261001"])           # the same id held by another record
    ids = _assign([0, 1], [1, 42], prev)
    assert ids[0] == fresh and ids[1] != fresh


def test_record_pseudonyms_are_keyed() -> None:
    agency, rid = pd.Series(["DJS", "DJS", "DHS"]), pd.Series(["0012", "12", "0012"])
    p = record_pseudonyms(agency, rid, KEY)
    assert p.dtype == np.uint64 and len(set(p.tolist())) == 3   # leading zeros matter
    assert not set(p.tolist()) & set(record_pseudonyms(agency, rid, bytes(16)).tolist())


def test_state_key_is_private_and_checked(tmp_path: Path) -> None:
    k = state_key(tmp_path)
    assert stat.S_IMODE((tmp_path / STATE_KEY).stat().st_mode) == 0o600
    assert state_key(tmp_path) == k and len(k) == 16
    os.chmod(tmp_path / STATE_KEY, 0o644)
    with pytest.raises(RunFolderError, match="readable by others"):
        state_key(tmp_path)
    os.chmod(tmp_path / STATE_KEY, 0o600)
    (tmp_path / STATE_KEY).write_text("nonsense\n")
    with pytest.raises(RunFolderError, match="malformed"):
        state_key(tmp_path)


def _records() -> pd.DataFrame:
    return pd.DataFrame({
        "agency": ["DHS", "DJS", "DJS", "DHS", "DPSCS"],
        "record_id": ["C1", "0007", "0007#guardian1", "C9", "000123"],
        "person": [0, 1, 0, 2, 3], "family": [0, 0, 0, 1, 2],
        "systems": ["DHS+DJS", "DHS+DJS", "DHS+DJS", "DHS", "DPSCS"],
        "multi_system": [True, True, True, False, False],
        "community": ["West Baltimore"] * 3 + ["Other Maryland", "Unknown"],
        "link_probability": [0.97, 0.97, 0.97, np.nan, np.nan]})


def _commit(root: Path, run_id: str, state) -> None:
    d = root / run_id
    d.mkdir()
    pq.write_table(state, d / ID_STATE)
    (d / "manifest.json").write_text(json.dumps({"run_id": run_id}))


def test_roster_columns_ids_and_rerun(tmp_path: Path) -> None:
    roster, state, counts = build_roster(_records(), tmp_path, "20261125")
    assert roster.schema == ROSTER_SCHEMA
    r = roster.to_pandas()
    assert sorted(r["record_id"]) == ["0007", "0007#guardian1", "C1"]   # exact text kept
    assert r["family_id"].nunique() == 1 and r["person_id"].nunique() == 2
    assert counts["rows"] == 3 and counts["families"] == 1 and counts["previous_run"] is None
    assert state.num_rows == 5                                 # every record of the night
    _commit(tmp_path, "20261125-20261125T070000Z-aaaaaa", state)

    # the next night: same records, one new family member; ids carry over
    nxt = pd.concat([_records(), pd.DataFrame({
        "agency": ["DPSCS"], "record_id": ["000999"], "person": [4], "family": [0],
        "systems": ["DHS+DJS+DPSCS"], "multi_system": [True], "community": ["West Baltimore"],
        "link_probability": [0.9]})], ignore_index=True)
    nxt.loc[nxt["family"] == 0, "systems"] = "DHS+DJS+DPSCS"
    roster2, state2, counts2 = build_roster(nxt, tmp_path, "20261126")
    r2 = roster2.to_pandas()
    assert set(r2["family_id"]) == set(r["family_id"])
    assert counts2["previous_run"] == "20261125-20261125T070000Z-aaaaaa"
    assert counts2["family_ids"]["kept"] == 3 and counts2["family_ids"]["new"] == 0
    # a rerun of the second night starts from the same (earlier) state: same roster
    _commit(tmp_path, "20261126-20261126T070000Z-bbbbbb", state2)
    roster3, _, _ = build_roster(nxt, tmp_path, "20261126")
    assert roster3.equals(roster2)
    assert previous_state(tmp_path, "20261126")[1] == "20261125-20261125T070000Z-aaaaaa"


def test_of_two_ids_issued_the_same_night_the_larger_overlap_wins_a_merge() -> None:
    prev = _state(list(range(1, 12)), ["Fbbbb"] * 10 + ["Faaaa"], ["20261125"] * 11)
    assert set(_assign([0] * 11, list(range(1, 12)), prev)) == {"Fbbbb"}


def test_missing_state_key_with_earlier_state_is_an_error(tmp_path: Path) -> None:
    _, state, _ = build_roster(_records(), tmp_path, "20261125")
    _commit(tmp_path, "20261125-20261125T070000Z-aaaaaa", state)
    (tmp_path / STATE_KEY).unlink()
    with pytest.raises(RunFolderError, match="state key is missing"):
        build_roster(_records(), tmp_path, "20261126")
    assert not (tmp_path / STATE_KEY).exists()          # no new key made behind our back


def test_unreadable_previous_state_is_one_clear_error(tmp_path: Path) -> None:
    _, state, _ = build_roster(_records(), tmp_path, "20261125")
    _commit(tmp_path, "20261125-20261125T070000Z-aaaaaa", state)
    path = tmp_path / "20261125-20261125T070000Z-aaaaaa" / ID_STATE
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(RunFolderError, match="id state cannot be read") as exc:
        build_roster(_records(), tmp_path, "20261126")
    assert "move it out of the output root" in str(exc.value)
