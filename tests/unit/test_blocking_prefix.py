"""Blocking parts for data blocked as Splink's examples block it: name prefixes
(``substr(first_name, 1, 3)``), the city (a birth place) and a postcode prefix that a
record without a postcode does not share."""

from __future__ import annotations

import pandas as pd
from people import persons

from hashing import EncodingSettings
from hashing.blocking import PARTS, blocking_tokens, rule_problems
from hashing.values import field_values

RULES = {"prefix": ("first3", "last4"), "prefix_yob": ("first2", "last2", "yob"),
         "dob_city": ("dob", "city"), "pc3_dob": ("postcode3", "dob"),
         "area_dob": ("postcode_area", "dob")}


def _tokens(rows: list[dict], cities: list[str | None] | None = None
            ) -> dict[str, list[set[int]]]:
    frame = persons(rows)
    if cities is not None:
        frame["addr_city"] = pd.Series(cities, dtype=pd.StringDtype("pyarrow"))
    out = blocking_tokens(frame, field_values(frame), bytes(32), RULES)
    return {k.removeprefix("blk_"): [set(t) for t in v.to_pylist()] for k, v in out.items()}


def _meet(tokens: list[set[int]], a: int, b: int) -> bool:
    return bool(tokens[a] & tokens[b])


def test_the_parts_are_declared() -> None:
    assert {"first2", "first3", "last2", "last4", "city", "postcode3"} <= set(PARTS)
    assert rule_problems(RULES) == []
    assert EncodingSettings(blocking={r: list(p) for r, p in RULES.items()}).validate() == []


def test_name_prefixes_meet_where_the_names_differ_after_them() -> None:
    rows = [dict(first="ALBERTINE", last="CHUDLEIGH", dob="1930-08-01", group="K1"),
            dict(first="ALBERTA", last="CHUDLEY", dob="1930-01-08", group="K2"),   # ALB CHUD
            dict(first="ALBERTINE", last="CHADWICK", dob="1930-08-01", group="K3"),
            dict(first="ALICE", last="CHANDLER", dob="1930-05-05", group="K4"),    # AL CH
            dict(first="ALICE", last="CHANDLER", dob="1931-05-05", group="K5")]
    tok = _tokens(rows)
    assert _meet(tok["prefix"], 0, 1)                 # ALB + CHUD
    assert not _meet(tok["prefix"], 0, 2)             # CHAD
    assert _meet(tok["prefix_yob"], 0, 3)             # AL + CH + 1930
    assert not _meet(tok["prefix_yob"], 0, 4)         # 1931
    assert not _meet(tok["prefix"], 0, 3)             # ALI, CHAN


def test_a_short_name_is_its_own_prefix() -> None:
    rows = [dict(first="AL", last="LI", group="K1"), dict(first="AL", last="LI", group="K2"),
            dict(first="AL", last="LIU", group="K3")]
    tok = _tokens(rows)["prefix"]
    assert _meet(tok, 0, 1) and not _meet(tok, 0, 2)


def test_city_blocks_with_the_birth_date() -> None:
    rows = [dict(first="ANA", last="REYES", dob="1950-02-03", group=g)
            for g in ("K1", "K2", "K3", "K4")]
    tok = _tokens(rows, ["DEVON", "DEVON", "WEST DEVON", None])["dob_city"]
    assert _meet(tok, 0, 1) and not _meet(tok, 0, 2)
    assert tok[3] == set()                            # no city: no token


def test_postcode3_leaves_out_records_without_a_postcode() -> None:
    """``postcode_area`` gives a record without a postcode its family group's area, else
    the empty area, where all such records meet; ``postcode3``, like Splink's
    ``substr(postcode, 1, 3)`` on a null, gives it none."""
    rows = [dict(first="ANA", last="REYES", dob="1950-02-03", zip="TQ13 8DF", group="K1"),
            dict(first="ANA", last="REYES", dob="1950-02-03", zip="TQ12 1AA", group="K2"),
            dict(first="JOSE", last="DIAZ", dob="1950-02-03", zip=None, group="K3"),
            dict(first="MARIA", last="LOPEZ", dob="1950-02-03", zip=None, group="K4")]
    tok = _tokens(rows)
    assert _meet(tok["pc3_dob"], 0, 1)                # TQ1
    assert tok["pc3_dob"][2] == set() and tok["pc3_dob"][3] == set()
    assert _meet(tok["area_dob"], 2, 3)               # the empty area
