"""The person check: every pair inside a person the clustering made is compared, so that a
record carrying little (a name and nothing else) cannot bridge two people who conflict but
were never compared (no blocking key brought them together)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from people import persons

from hashing import EncodingSettings, LinkageKey, encode_extract
from linkage import cluster
from linkage.compare import compare
from linkage.inputs import EncodedNight
from linkage.link import LinkResult, _person_pairs, link_records
from linkage.settings import LinkageSettings

KEY = LinkageKey.from_bytes(bytes(range(32)))
FATHER = dict(agency="DHS", id="C990000001", group="K99000001", first="JOHN",
              last="QWERTYSON", dob="1955-03-05", ssn="512345678", number="10",
              street="ELM ST", zip="21217")
BRIDGE = dict(agency="DHS", id="C990000002", group="K99000002", first="JOHN",
              last="QWERTYSON", dob=None, number=None, street=None, zip=None)
SON = dict(agency="DPSCS", id="99000001", group="99000001", relationship="SELF",
           first="JOHN", last="QWERTYSEN", dob="1985-07-09", ssn="687654321", number="44",
           street="OAK AVE", zip="20850")


@pytest.fixture(scope="module")
def night(small_night: Path) -> tuple[EncodedNight, LinkResult]:
    from data_contracts import find_extracts, load_extract, parse_night

    name, paths = find_extracts(small_night)
    hand = {"DHS": [FATHER, BRIDGE], "DPSCS": [SON]}
    tables = []
    for agency, path in paths.items():
        frame = load_extract(path, agency, parse_night(name)).persons
        if agency in hand:
            extra = persons(hand[agency])
            frame = pd.concat([frame, extra.astype(frame.dtypes.to_dict())],
                              ignore_index=True)
        tables.append(encode_extract(frame, KEY, EncodingSettings(), {}))
    encoded = EncodedNight(records=pa.concat_tables(tables), key_id=KEY.key_id,
                           encoding=EncodingSettings().describe(), night=name,
                           agencies=tuple(paths))
    return encoded, link_records(encoded)


def _rows(encoded: EncodedNight) -> list[int]:
    ids = encoded.records.column("record_id").to_pylist()
    return [ids.index(r["id"]) for r in (FATHER, BRIDGE, SON)]


def test_a_chain_through_a_name_only_record_is_split(night) -> None:  # type: ignore[no-untyped-def]
    """Force the father, the name-only record and the son (another generation, another
    SSN, a surname one letter off, so no blocking key pairs father and son) into one
    person: the check compares the pair the blocking never proposed, finds the conflict,
    and the clustering again keeps father and son apart: one link against one conflict is
    a tie, and a tie does not merge."""
    encoded, result = night
    father, bridge, son = _rows(encoded)
    n = encoded.records.num_rows
    person = np.arange(n)
    person[[bridge, son]] = father
    comparator = lambda left, right: compare(encoded.records, left, right,  # noqa: E731
                                             encoded.encoding)
    threshold = result.threshold["threshold"]
    left, right, prob, never, conflict = _person_pairs(encoded.records, person, comparator,
                                                       result.model, threshold, ())
    assert len(left) == 3
    bad = never | conflict
    assert {(int(a), int(b)) for a, b in zip(left[bad], right[bad])} == \
        {tuple(sorted((father, son)))}
    links_l, links_r = np.array([father, bridge]), np.array([bridge, son])
    labels, _ = cluster.persons(encoded.records, links_l, links_r, np.array([0.99, 0.98]),
                                left[never], right[never],
                                conflict=(left[conflict], right[conflict]),
                                compared=(left, right, prob), threshold=threshold)
    assert labels[father] != labels[son]
    unchecked, _ = cluster.persons(encoded.records, links_l, links_r, np.array([0.99, 0.98]))
    assert unchecked[father] == unchecked[son]          # without the check: one person


def test_the_night_reports_the_check(night) -> None:  # type: ignore[no-untyped-def]
    encoded, result = night
    assert result.pairs["person_check_pairs"] > 0
    assert "person_check" in result.seconds
    father, _, son = _rows(encoded)
    person = result.records["person"].to_numpy()
    assert person[father] != person[son]
    off = link_records(encoded, LinkageSettings(check_persons=False))
    assert off.pairs["person_check_pairs"] == 0
