"""Linkage side, first pieces: reading a night's encoded extracts, candidate pairs from
blocking tokens (with block caps), Dice similarities (compiled kernel = numpy twin)."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from data_contracts.encoded import EncodedMeta, write_encoded
from data_contracts.errors import EncodedFormatError
from linkage import _bits
from linkage.blocking import candidate_pairs
from linkage.inputs import read_night


def _tokens(lists: list[list[int]]) -> pa.Array:
    return pa.array(lists, type=pa.list_(pa.uint64()))


def test_candidate_pairs_union_rules_masks_and_caps() -> None:
    records = pa.table({
        # rule a: {0,1,2} share 7 -> 3 pairs; {3,4} share 9
        "blk_a": _tokens([[7], [7], [7, 7], [9], [9], [], [5]]),
        # rule b: {1,2} share 1; a block of 5 records (2..6) over the cap of 4
        "blk_b": _tokens([[], [1], [1, 3], [3], [3], [3], [3]]),
    })
    pairs = candidate_pairs(records, ["a", "b"], max_block=4)
    got = {(int(l), int(r)): int(m) for l, r, m in zip(pairs.left, pairs.right, pairs.rules)}
    assert got == {(0, 1): 0b01, (0, 2): 0b01, (1, 2): 0b11, (3, 4): 0b01}
    a, b = pairs.stats
    assert (a.blocks, a.pairs, a.capped_blocks) == (2, 4, 0)
    assert (b.blocks, b.pairs, b.capped_blocks, b.capped_records, b.largest_block) == (
        1, 1, 1, 5, 5)
    assert np.all(pairs.left < pairs.right)


def test_candidate_pairs_match_brute_force_on_random_blocks() -> None:
    rng = np.random.default_rng(3)
    lists = [list(rng.integers(0, 40, rng.integers(0, 4))) for _ in range(300)]
    records = pa.table({"blk_x": _tokens([[int(t) for t in l] for l in lists])})
    pairs = candidate_pairs(records, ["x"], max_block=10)
    members: dict[int, set[int]] = {}
    for i, toks in enumerate(lists):
        for t in set(toks):
            members.setdefault(int(t), set()).add(i)
    expected = {p for m in members.values() if len(m) <= 10
                for p in combinations(sorted(m), 2)}
    assert set(zip(pairs.left.tolist(), pairs.right.tolist())) == expected


def test_hamming_kernel_equals_numpy_and_marks_missing() -> None:
    rng = np.random.default_rng(4)
    filters = rng.integers(0, 2**63, (50, 8), dtype=np.uint64)
    filters[7] = 0
    valid = np.ones(50, bool)
    valid[3] = False
    left = rng.integers(0, 50, 2000)
    right = rng.integers(0, 50, 2000)
    fast = _bits.hamming(filters, valid, left, right)
    slow = _bits.hamming_numpy(filters, valid, left, right, chunk=97)
    assert np.array_equal(fast, slow)
    assert (fast[(left == 3) | (right == 3)] == -1).all()
    same = (left == right) & valid[left]
    assert (fast[same] == 0).all()
    bits = np.unpackbits(filters.view(np.uint8), axis=1)
    k = np.flatnonzero(valid[left] & valid[right] & ~same)[:20]
    assert fast[k].tolist() == [(bits[a] != bits[b]).sum() for a, b in zip(left[k], right[k])]


def _encoded(tmp: Path, agency: str, key_id: str = "k1-a", night: str = "20261125",
             sha: str = "s") -> Path:
    table = pa.table({
        "agency": [agency], "record_id": ["1"], "record_kind": ["primary"],
        "relationship": [None], "family_tie": pa.array([1], pa.uint64()),
        "activity_date": pa.array([None], pa.date32()), "community": ["Unknown"],
        "role": ["unknown"], "id_unique": [False], "group_distinct": [False],
        "address_priority": [0],
        "enc_x": pa.array([b"\x01" * 8], pa.binary(8)),
        "blk_a": pa.array([[1]], pa.list_(pa.uint64())),
    }).cast(pa.schema([("agency", pa.string()), ("record_id", pa.string()),
                       ("record_kind", pa.string()), ("relationship", pa.string()),
                       ("family_tie", pa.uint64()), ("activity_date", pa.date32()),
                       ("community", pa.string()), ("role", pa.string()),
                       ("id_unique", pa.bool_()), ("group_distinct", pa.bool_()),
                       ("address_priority", pa.uint8()), ("enc_x", pa.binary(8)),
                       ("blk_a", pa.list_(pa.uint64()))]))
    return write_encoded(table, EncodedMeta(key_id, agency, night, {}, sha),
                         tmp / f"encoded_{agency}_{night}.parquet")


def test_read_night_concatenates_and_refuses_mixed_keys(tmp_path: Path) -> None:
    paths = {a: _encoded(tmp_path, a) for a in ("DHS", "DJS", "DPSCS")}
    night = read_night(paths)
    assert night.records.num_rows == 3 and night.key_id == "k1-a"
    assert night.records["agency"].to_pylist() == ["DHS", "DJS", "DPSCS"]
    (tmp_path / "other").mkdir()
    paths["DJS"] = _encoded(tmp_path / "other", "DJS", key_id="k1-b")
    with pytest.raises(EncodedFormatError, match="key id differs") as exc:
        read_night(paths)
    assert "same linkage key" in str(exc.value) and "\n" not in str(exc.value)
    paths["DJS"] = tmp_path / "missing.parquet"
    with pytest.raises(EncodedFormatError, match="missing"):
        read_night(paths)


def test_shares_token_matches_brute_force_for_any_pairs() -> None:
    from linkage.blocking import shares_token

    rng = np.random.default_rng(8)
    lists = [[int(t) for t in rng.integers(0, 30, rng.integers(0, 4))] for _ in range(200)]
    records = pa.table({"blk_x": _tokens(lists)}).slice(0)
    left, right = rng.integers(0, 200, 3000), rng.integers(0, 200, 3000)
    got = shares_token(records, "x", left, right)
    assert got.tolist() == [bool(set(lists[a]) & set(lists[b])) for a, b in zip(left, right)]
    assert got.any() and not got.all()
