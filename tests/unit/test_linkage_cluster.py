"""Persons, families and communities from links: the constraints on hand-made tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from people import records_table

from linkage import cluster

R = records_table([
    ("DHS", "C1", "primary", "HEAD", "K1", "North", 1),            # 0
    ("DHS", "C2", "primary", "CHILD", "K1", "North", 1),           # 1
    ("DJS", "Y1", "primary", "SELF", "Y1", "West", 5),             # 2
    ("DJS", "Y1#guardian1", "guardian", "MOTHER", "Y1", "West", 5),  # 3
    ("DPSCS", "S1", "primary", "SELF", "S1", "East", 9),           # 4
    ("DPSCS", "S2", "primary", "SELF", "S2", "East", 2),           # 5
    ("DPSCS", "S2#contact", "contact", "MOTHER", "S2", "Unknown", 2),  # 6
])


def test_cannot_link_own_family_two_ids_and_generations() -> None:
    left = np.array([2, 4, 5, 0, 2, 0])
    right = np.array([3, 5, 6, 1, 6, 2])
    never = cluster.cannot_link(R, left, right)
    # youth/own guardian; two sids; offender/own contact; DHS duplicates are possible;
    # a youth is not a contact's mother; a DHS head and a youth may be one person
    assert never.tolist() == [True, True, True, False, True, False]
    # the sids are one person each because the file declares it (id_unique), or because
    # the settings name the agency for a file without a declaration
    undeclared = R.set_column(R.schema.get_field_index("id_unique"), "id_unique",
                              pa.array([False] * R.num_rows))
    assert not cluster.cannot_link(undeclared, left, right)[1]
    assert cluster.cannot_link(undeclared, left, right, unique_id_agencies=("DPSCS",))[1]
    # a DHS case's child is the youngest generation: not a youth's guardian MOTHER nor an
    # offender's contact MOTHER; the case's head may be either
    assert cluster.cannot_link(R, np.array([1, 1, 0, 0]), np.array([3, 6, 3, 6])).tolist() \
        == [True, True, False, False]


def test_greedy_clustering_refuses_two_sids_and_conflicts() -> None:
    # C1-S1 strongest, then C1-S2 would put two sids in one person: refused
    left, right, prob = np.array([0, 0, 1]), np.array([4, 5, 3]), np.array([0.99, 0.9, 0.8])
    person, kept = cluster.persons(R, left, right, prob)
    assert kept.tolist() == [True, False, True]
    assert person[0] == person[4] != person[5]
    # a conflict between C2 and Y1's guardian stops the chain C1-Y1 then C1... via C2
    left, right, prob = np.array([0, 0]), np.array([1, 3]), np.array([0.99, 0.9])
    person, kept = cluster.persons(R, left, right, prob, np.array([1]), np.array([3]))
    assert kept.tolist() == [True, False]
    assert person[0] == person[1] != person[3]


def test_a_conflict_is_weighed_against_the_two_persons_as_wholes() -> None:
    """C1, C2 and Y1 link among themselves; S1 links to C2 but conflicts with C1 (a keying
    error on one record, say). Whether S1 joins depends on the rest: where S1 also agrees
    with Y1 (mean probability of the compared pairs 0.52, above one half) it joins; where
    its only other pair disagrees (a tie of one link against one conflict) it does not;
    and without the compared pairs a conflict refuses outright, as before."""
    left, right = np.array([0, 1, 0, 4]), np.array([1, 2, 2, 1])
    prob = np.array([0.99, 0.98, 0.97, 0.95])
    conflict = (np.array([0]), np.array([4]))
    agree = (np.array([0, 0, 1, 1, 4, 2]), np.array([1, 2, 2, 4, 0, 4]),
             np.array([0.99, 0.97, 0.98, 0.95, 0.01, 0.6]))
    person, kept = cluster.persons(R, left, right, prob, conflict=conflict, compared=agree,
                                   threshold=0.5)
    assert kept.all() and len({person[i] for i in (0, 1, 2, 4)}) == 1
    tie = (agree[0][:5], agree[1][:5], agree[2][:5])        # S1 against C2 and C1 only
    person, kept = cluster.persons(R, left, right, prob, conflict=conflict, compared=tie,
                                   threshold=0.5)
    assert kept.tolist() == [True, True, True, False] and person[4] != person[0]
    person, _ = cluster.persons(R, left, right, prob, conflict=conflict)
    assert person[4] != person[0]
    # a pair that can never be one person is no conflict to weigh: it refuses whatever
    person, _ = cluster.persons(R, left, right, prob, np.array([0]), np.array([4]),
                                compared=agree, threshold=0.5)
    assert person[4] != person[0]


def test_families_systems_community_and_link_probability() -> None:
    # C2 (DHS case K1) is the youth Y1; the guardian's family follows through Y1's group
    person = np.arange(R.num_rows)
    person[2] = person[1]
    family = cluster.families(R, person)
    assert family[0] == family[1] == family[2] == family[3]
    assert family[4] != family[0] and family[5] == family[6] != family[4]
    df = cluster.summarize(R, person, family, np.array([1]), np.array([2]), np.array([0.93]))
    shared = df[df["family"] == family[0]]
    assert shared["systems"].unique().tolist() == ["DHS+DJS"]
    assert shared["multi_system"].all()
    assert shared["community"].unique().tolist() == ["West"]   # the most recent address
    assert shared["link_probability"].unique().tolist() == [0.93]
    alone = df[df["family"] == family[5]]
    assert not alone["multi_system"].any() and alone["link_probability"].isna().all()
    assert alone["community"].unique().tolist() == ["East"]    # "Unknown" never wins


def test_coparent_surname_is_dropped_only_for_the_mother_of_siblings() -> None:
    from linkage.compare import COMPARISON_NAMES
    from linkage.family import drop_surname_of_coparents

    j = {n: COMPARISON_NAMES.index(n) for n in COMPARISON_NAMES}
    gamma = np.zeros((3, len(COMPARISON_NAMES)), dtype=np.int8)
    gamma[:, j["last_name"]] = 0                       # maiden vs married name
    gamma[:, j["first_name"]] = [6, 6, 1]
    gamma[:, j["address"]] = [6, 2, 6]                 # same street / another street
    gamma[:, j["relationship"]] = [1, 1, 1]            # both MOTHER
    drop_surname_of_coparents(gamma)
    assert gamma[:, j["last_name"]].tolist() == [-1, 0, 0]


def test_contact_borrows_the_offenders_address_and_family_support() -> None:
    from linkage.family import address_source, family_support

    n = R.num_rows
    street = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(8), n, [pa.array([True] * 6 + [False]).buffers()[1],
                          pa.py_buffer(bytes(8 * n))])
    zip_ = street
    records = R.append_column("enc_street", street).append_column("enc_zip", zip_)
    take = address_source(records)
    assert take[6] == 5 and take[:6].tolist() == list(range(6))   # S2#contact reads S2's
    # C2 (case K1) and Y1 linked: the case and the youth's group support the guardian
    left, right = np.array([0, 0]), np.array([3, 6])
    support = family_support(records, left, right, np.array([1]), np.array([2]))
    assert support.tolist() == [True, False]


def test_siblings_are_one_family_group_with_first_names_not_alike() -> None:
    from linkage.cluster import siblings
    from linkage.compare import COMPARISON_NAMES

    j = {n: COMPARISON_NAMES.index(n) for n in COMPARISON_NAMES}
    levels = [0, 1, 2, 3, 3, 4, 6, 1]    # different .. exact; the last pair in two groups
    gamma = np.full((len(levels), len(COMPARISON_NAMES)), -1, dtype=np.int8)
    gamma[:, j["first_name"]] = levels
    gamma[:, j["sex"]] = [1, 1, 1, 1, 0, 1, 1, 1]      # pair 4: alike names, another sex
    same_group = np.array([True] * 7 + [False])
    records = pa.table({"record_id": [f"r{i}" for i in range(2 * len(levels))]})
    left, right = np.arange(len(levels)), np.arange(len(levels)) + len(levels)
    got = siblings(records, left, right, gamma, same_group)
    # JASON/RYAN twins grade "similar (two typos)" on bigram filters: siblings, as are
    # names one nickname key apart; a one-typo variant is a duplicate id unless the sex
    # (or middle name) differs; a shared nickname key or an exact name never; nor two
    # records of different groups
    assert got.tolist() == [True, True, True, False, True, False, False, False]
