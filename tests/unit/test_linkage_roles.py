"""What a record is comes from its agency's contract, carried in the encoded file, and the
linker's constraints follow those columns, never the agencies' names."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from people import persons, records_table

from data_contracts import DECLARATIONS, RecordRoles, record_roles
from data_contracts.encoded import BASE_COLUMNS, FORMAT_VERSION, EncodedMeta, read_encoded
from data_contracts.errors import EncodedFormatError
from data_contracts.roles import PARENTAL, declared_columns
from linkage import cluster

ROOT = Path(__file__).resolve().parents[2]

# (agency, record_id, kind, relationship, family group, community, activity day)
ROWS = [
    ("DHS", "C1", "primary", "HEAD", "K1", "North", 1),              # 0 case head
    ("DHS", "C2", "primary", "CHILD", "K1", "North", 1),             # 1 case child
    ("DHS", "C3", "primary", "OTHER CHILD", "K2", "South", 3),       # 2 case child
    ("DJS", "Y1", "primary", "SELF", "Y1", "West", 5),               # 3 youth
    ("DJS", "Y1#guardian1", "guardian", "MOTHER", "Y1", "West", 5),  # 4 parent
    ("DJS", "Y1#guardian2", "guardian", "AUNT", "Y1", "West", 5),    # 5 aunt: unknown
    ("DJS", "Y2", "primary", "SELF", "Y2", "West", 6),               # 6 youth
    ("DPSCS", "S1", "primary", "SELF", "S1", "East", 9),             # 7 offender
    ("DPSCS", "S1#contact", "contact", "MOTHER", "S1", "Unknown", 9),  # 8 parent
    ("DPSCS", "S2", "primary", "SELF", "S2", "East", 2),             # 9 offender
    ("DPSCS", "S2#contact", "contact", "SISTER", "S2", "Unknown", 2),  # 10 unknown
]
LEFT, RIGHT = np.triu_indices(len(ROWS), k=1)                   # every pair


def _renamed(table: pa.Table, names: dict[str, str]) -> pa.Table:
    agency = [names[a] for a in table["agency"].to_pylist()]
    return table.set_column(0, "agency", pa.array(agency, pa.string()))


def _never(table: pa.Table) -> set[tuple[int, int]]:
    hit = cluster.cannot_link(table, LEFT, RIGHT)
    return {(int(a), int(b)) for a, b in zip(LEFT[hit], RIGHT[hit], strict=True)}


EXPECTED = {
    (3, 4), (3, 5), (4, 5),        # a youth, his mother and his aunt: one group, distinct
    (7, 8), (9, 10),               # an offender and his own contact
    (3, 6), (7, 9),                # two youth ids, two sids
    (1, 4), (2, 4), (1, 8), (2, 8),  # a case's child is not a youth's or offender's mother
    (3, 8), (4, 6), (6, 8),        # a youth is not another youth's or an offender's mother
}


def test_the_contracts_declare_what_each_record_is() -> None:
    table = records_table(ROWS)
    assert table["role"].to_pylist() == ["unknown", "child", "child", "youth", "parent",
                                         "unknown", "youth", "adult", "parent", "adult",
                                         "unknown"]
    assert table["id_unique"].to_pylist() == [False] * 3 + [True, False, False, True] + [
        True, False, True, False]
    assert table["group_distinct"].to_pylist() == [False] * 3 + [True] * 8
    # ties between a family's equally recent addresses go to the DHS case address
    assert table["address_priority"].to_pylist() == [1] * 3 + [0] * 8
    assert [n for n, _ in BASE_COLUMNS][-4:] == ["role", "id_unique", "group_distinct",
                                                 "address_priority"]


def test_constraints_follow_the_declared_columns_not_agency_names() -> None:
    table = records_table(ROWS)
    assert _never(table) == EXPECTED
    # the same records sent under made-up agency names: the same constraints
    renamed = _renamed(table, {"DHS": "HOUSING", "DJS": "YOUTHCOURT", "DPSCS": "PAROLE"})
    assert _never(renamed) == EXPECTED
    # the real names with nothing declared: no constraint is left (the names mean nothing)
    n = table.num_rows
    blank = table
    for name, value in (("role", pa.array(["unknown"] * n)),
                        ("id_unique", pa.array([False] * n)),
                        ("group_distinct", pa.array([False] * n))):
        blank = blank.set_column(blank.schema.get_field_index(name), name, value)
    assert _never(blank) == set()


def test_a_fourth_agency_gets_the_constraints_it_declares() -> None:
    """A made-up health department whose primaries are children with unique ids and whose
    contacts may be their parents: its records obey the same rules as the three's."""
    rows = [*ROWS,
            ("MDH", "H1", "primary", "PATIENT", "H1", "North", 4),            # 11 child
            ("MDH", "H1#contact", "contact", "FATHER", "H1", "North", 4),     # 12 parent
            ("MDH", "H2", "primary", "PATIENT", "H2", "North", 4)]            # 13 child
    cols = list(zip(*rows, strict=True))
    frame = pd.DataFrame({"agency": cols[0], "record_kind": cols[2], "relationship": cols[3]})
    mdh = RecordRoles(roles={"primary": "child", "contact": PARENTAL},
                      primary_ids_unique=True, groups_distinct=True)
    table = records_table(rows, declared_columns(frame, {**DECLARATIONS, "MDH": mdh}))
    left, right = np.triu_indices(len(rows), k=1)
    never = cluster.cannot_link(table, left, right)
    got = {(int(a), int(b)) for a, b in zip(left[never], right[never], strict=True)}
    assert {(11, 12), (11, 13), (12, 13)} <= got       # own contact, two ids, one group
    assert {(4, 11), (8, 11), (4, 13), (1, 12), (3, 12)} <= got   # a generation apart
    assert (0, 11) not in got and (7, 11) not in got and (7, 12) not in got
    # undeclared (a benchmark's file): nothing is assumed
    plain = records_table(rows, declared_columns(frame, DECLARATIONS))
    assert not cluster.cannot_link(plain, np.array([11, 11]), np.array([12, 13])).any()


def test_a_child_never_joins_the_parent_generation_under_any_agency_name() -> None:
    """The strongest link of a case's child is to an offender's mother (a name-only
    contact): refused, and the child joins the youth record instead; the offender's
    mother stays apart, whatever the agencies are called."""
    for names in ({"DHS": "DHS", "DJS": "DJS", "DPSCS": "DPSCS"},
                  {"DHS": "A1", "DJS": "B2", "DPSCS": "C3"}):
        table = _renamed(records_table(ROWS), names)
        left, right = np.array([1, 1, 7]), np.array([8, 3, 0])
        prob = np.array([0.99, 0.95, 0.9])
        never = cluster.cannot_link(table, left, right)
        assert never.tolist() == [True, False, False]
        person, kept = cluster.persons(table, left[~never], right[~never], prob[~never],
                                       left[never], right[never])
        assert person[1] == person[3] and person[1] != person[8]
        assert person[7] == person[0] != person[8]     # an adult offender may head a case
        # two youth ids never end in one person, whatever the agency is called
        person, kept = cluster.persons(table, np.array([1, 1]), np.array([3, 6]),
                                       np.array([0.99, 0.98]))
        assert kept.tolist() == [True, False] and person[3] != person[6]


def test_the_community_tie_breaks_on_the_declared_priority() -> None:
    """Two addresses of one family equally recent: the one whose agency declares the higher
    ``address_priority`` gives the community (the DHS case address), whatever the name."""
    rows = [("DHS", "C1", "primary", "HEAD", "K1", "North", 5),
            ("DJS", "Y1", "primary", "SELF", "Y1", "West", 5)]
    for names in ({"DHS": "DHS", "DJS": "DJS"}, {"DHS": "ZZZ", "DJS": "AAA"}):
        table = _renamed(records_table(rows), names)
        person = np.array([0, 0])
        df = cluster.summarize(table, person, np.array([0, 0]), np.array([0]), np.array([1]),
                               np.array([0.9]))
        assert df["community"].tolist() == ["North", "North"]
        flipped = table.set_column(table.schema.get_field_index("address_priority"),
                                   "address_priority", pa.array([0, 1], pa.uint8()))
        df = cluster.summarize(flipped, person, np.array([0, 0]), np.array([0]),
                               np.array([1]), np.array([0.9]))
        assert df["community"].tolist() == ["West", "West"]


def test_hand_made_person_frames_get_the_contracts_roles() -> None:
    frame = persons([
        dict(agency="DHS", id="C000000001", relationship="OTHER ADULT", first="A", last="B"),
        dict(agency="DJS", id="Y0000001", relationship="SELF", first="C", last="D"),
        dict(agency="DJS", id="Y0000001#guardian1", kind="guardian",
             relationship="FOSTER PARENT", first="E", last="F"),
        dict(agency="DPSCS", id="1", relationship="SELF", first="G", last="H"),
        dict(agency="DPSCS", id="1#contact", kind="contact", relationship="SPOUSE",
             first="I", last="J"),
    ])
    got = record_roles(frame)
    assert got["role"].to_pylist() == ["adult", "youth", "parent", "adult", "unknown"]
    assert got["id_unique"].to_pylist() == [False, True, False, True, False]


def test_an_encoded_file_of_the_previous_format_is_refused_in_one_line(tmp_path: Path
                                                                      ) -> None:
    """A version 4 file (without the declared columns) stops the linkage side."""
    table = pa.table({"agency": ["DJS"], "record_id": ["Y0000001"],
                      "record_kind": ["primary"], "relationship": ["SELF"],
                      "family_tie": pa.array([1], pa.uint64()),
                      "activity_date": pa.array([None], pa.date32()),
                      "community": ["Unknown"]})
    meta = EncodedMeta("k1-a", "DJS", "20261125", {}, "s", format_version="4")
    path = tmp_path / "encoded_DJS_20261125.parquet"
    pq.write_table(table.replace_schema_metadata(meta.to_arrow()), path)
    with pytest.raises(EncodedFormatError, match=f"format version 4 is not {FORMAT_VERSION}"
                       ) as exc:
        read_encoded(path)
    assert "\n" not in str(exc.value)
    # claiming the new version without the declared columns is refused too
    meta = EncodedMeta("k1-a", "DJS", "20261125", {}, "s")
    pq.write_table(table.replace_schema_metadata(meta.to_arrow()), path)
    with pytest.raises(EncodedFormatError, match="columns are not those"):
        read_encoded(path)
    # and so is a role outside the vocabulary
    declared = table.append_column("role", pa.array(["teen"])).append_column(
        "id_unique", pa.array([True])).append_column("group_distinct", pa.array([True])) \
        .append_column("address_priority", pa.array([0], pa.uint8()))
    pq.write_table(declared.replace_schema_metadata(meta.to_arrow()), path)
    with pytest.raises(EncodedFormatError, match="role teen is not one of") as exc:
        read_encoded(path)
    assert "\n" not in str(exc.value)
    fixed = declared.set_column(declared.schema.get_field_index("role"), "role",
                                pa.array(["youth"]))
    pq.write_table(fixed.replace_schema_metadata(meta.to_arrow()), path)
    assert read_encoded(path)[0]["role"].to_pylist() == ["youth"]


def test_the_linker_names_no_agency() -> None:
    """No string literal in ``linkage/`` is an agency's name: what a record is comes from
    the columns its agency's contract declares (a fourth agency is not left out)."""
    names = set(DECLARATIONS)
    found = []
    for path in sorted((ROOT / "linkage").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value in names:
                found.append(f"{path.name}:{node.lineno} {node.value}")
    assert not found, found
