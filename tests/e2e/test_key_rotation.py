"""Key rotation drill (README, *Key rotation*): night 1 with linkage key A, a new key B made
and every agency re-encoding with it, night 2 run with the rotation from A declared; the
published person and family ids carry over unchanged.

The ids do not depend on the linkage key: a record is known to the id state by a keyed
pseudonym of its agency and record id under the output root's *state key*
(``pipeline/roster.py``), which the rotation does not touch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from data_contracts import RunFolderError
from pipeline.run_folder import ROSTER

pytestmark = pytest.mark.e2e

NIGHTS = ("20261125", "20261128")
SEED = 11


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> dict:
    from flows import agency_encode, nightly_linkage
    from hashing import LinkageKey
    from pipeline.synth import generate_night

    base = tmp_path_factory.mktemp("rotation")
    keys = {name: LinkageKey.generate(base / f"linkage_{name}.key") for name in "AB"}
    configs = {}
    for name in "AB":
        configs[name] = base / f"{name}.toml"
        configs[name].write_text(f'[encoding]\nkey_file = "{base / f"linkage_{name}.key"}"\n'
                                 "[delivery]\nsettle_seconds = 0\n")
    out = base / "runs"
    extracts = {}
    for night in NIGHTS:
        extracts[night] = base / night
        generate_night(extracts[night], seed=SEED, scale="small", night=night)
    first = Path(nightly_linkage(str(extracts[NIGHTS[0]]), str(out), night=NIGHTS[0],
                                 config=str(configs["A"]))["run_dir"])
    # key B without the rotation declared: the night stops before reading any data
    with pytest.raises(RunFolderError) as refused:
        nightly_linkage(str(extracts[NIGHTS[1]]), str(out), night=NIGHTS[1],
                        config=str(configs["B"]))
    left_after_refusal = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    # an agency re-encodes on its own side with the new key
    dhs = next(extracts[NIGHTS[1]].glob("dhs_clients_*.csv"))
    encoded = agency_encode(str(dhs), "DHS", str(base / "dhs_side"), NIGHTS[1],
                            str(configs["B"]))["encoded"]
    second = Path(nightly_linkage(str(extracts[NIGHTS[1]]), str(out), night=NIGHTS[1],
                                  config=str(configs["B"]),
                                  key_rotated_from=keys["A"].key_id)["run_dir"])
    return {"keys": keys, "runs": (first, second), "refused": refused.value,
            "left_after_refusal": left_after_refusal, "agency_encoded": encoded}


def _roster(run: Path) -> pd.DataFrame:
    return pq.read_table(run / ROSTER).to_pandas()


def test_a_changed_key_needs_the_rotation_declared(drill: dict) -> None:
    line = drill["refused"].one_line()
    a, b = drill["keys"]["A"].key_id, drill["keys"]["B"].key_id
    assert f"({a} -> {b})" in line and f"--key-rotated-from {a}" in line
    assert drill["left_after_refusal"] == [drill["runs"][0].name]     # nothing written


def test_each_night_records_its_key(drill: dict) -> None:
    ids = [json.loads((run / "manifest.json").read_text())["linkage_key_id"]
           for run in drill["runs"]]
    assert ids == [drill["keys"]["A"].key_id, drill["keys"]["B"].key_id]
    assert drill["agency_encoded"]["key_id"] == drill["keys"]["B"].key_id
    manifest = json.loads((drill["runs"][1] / "manifest.json").read_text())
    assert manifest["roster"]["previous_run"] == drill["runs"][0].name


def test_person_and_family_ids_carry_over_the_rotation(drill: dict) -> None:
    one, two = (_roster(run) for run in drill["runs"])
    both = one.merge(two, on=["agency", "record_id"], suffixes=("_1", "_2"))
    assert len(both) > 200
    for level in ("person_id", "family_id"):
        # a group whose records are the same on both nights keeps its id, every one
        members = {}
        for night, frame in (("1", one), ("2", two)):
            keys = frame["agency"] + "/" + frame["record_id"]
            members[night] = keys.groupby(frame[level]).agg(lambda s: tuple(sorted(s)))
        same = both[[members["1"][a] == members["2"][b] for a, b in zip(
            both[f"{level}_1"], both[f"{level}_2"], strict=True)]]
        assert len(same) > 0.9 * len(both)
        assert (same[f"{level}_1"] == same[f"{level}_2"]).all(), level
        # and nearly every record keeps its id (some groups change over three days)
        assert (both[f"{level}_1"] == both[f"{level}_2"]).mean() > 0.98, level
