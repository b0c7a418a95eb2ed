"""Blocking rules as configuration: declared parts, any postcode, the linkage side blocks on
whatever rules the agencies encoded."""

from __future__ import annotations

from pathlib import Path

import pytest
from people import persons

from data_contracts.encoded import block_rules
from hashing import EncodingSettings, LinkageKey, encode_extract
from hashing.blocking import DEFAULT_RULES, blocking_tokens, rule_problems
from hashing.values import field_values
from linkage.blocking import candidate_pairs

KEY = LinkageKey.from_bytes(bytes(range(32)))


def _tokens(rows: list[dict], rules: dict | None = None) -> dict[str, list[list[int]]]:
    frame = persons(rows)
    out = blocking_tokens(frame, field_values(frame), bytes(32), rules)
    return {k: v.to_pylist() for k, v in out.items()}


def _meet(tokens: list[list[int]], a: int, b: int) -> bool:
    return bool(set(tokens[a]) & set(tokens[b]))


def test_uk_postcodes_block_by_postcode_and_its_area() -> None:
    """A postcode that is not a US ZIP blocks through the postcode parts: the first three
    characters (TQ1) are its area, the whole postcode the place. The default rules read
    US ZIP codes (digits) and stay silent on it."""
    rules = {"pc_area": ("first", "last_metaphone", "postcode_area"),
             "dob_pc": ("dob", "postcode")}
    rows = [dict(first="THOMAS", last="CLIFFORD", dob="1930-08-01", zip="TQ13 8DF", group=g)
            for g in ("K1", "K2")]
    rows += [dict(first="THOMAS", last="CLIFFORD", dob="1930-08-01", zip="TQ12 1AA",
                  group="K3"),
             dict(first="THOMAS", last="CLIFFORD", dob="1930-08-01", zip="SW1A 1AA",
                  group="K4")]
    tok = _tokens(rows, rules)
    assert _meet(tok["blk_dob_pc"], 0, 1)                   # same postcode
    assert not _meet(tok["blk_dob_pc"], 0, 2)
    assert _meet(tok["blk_pc_area"], 0, 2)                  # same area TQ1
    assert not _meet(tok["blk_pc_area"], 0, 3)              # SW1 is elsewhere
    default = _tokens(rows)
    assert default["blk_dob_area"] == [[], [], [], []]      # no ZIP5


def test_a_record_without_a_postcode_takes_its_groups_area() -> None:
    rows = [dict(first="ANA", last="REYES", zip="21217", group="K1"),
            dict(first="ANA", last="REYES", zip=None, number=None, street=None, group="K1",
                 kind="derived", relationship="MOTHER"),
            dict(first="ANA", last="REYES", zip="21230", group="K2"),   # same ZIP3 212
            dict(first="ANA", last="REYES", zip="20850", group="K3")]
    tok = _tokens(rows)["blk_name_area"]
    assert _meet(tok, 1, 0) and _meet(tok, 1, 2) and not _meet(tok, 1, 3)


def test_a_configured_rule_combines_its_parts() -> None:
    rows = [dict(first="JOHN", last="SMITH", zip="21217", group="K1"),
            dict(first="JOHN", last="SMYTHE", zip="21230", group="K2"),   # soundex S530
            dict(first="JOHN", last="JONES", zip="21230", group="K3")]
    tok = _tokens(rows, {"last_area": ("last_soundex", "zip3")})
    assert list(tok) == ["blk_last_area"]
    assert _meet(tok["blk_last_area"], 0, 1) and not _meet(tok["blk_last_area"], 0, 2)
    # one first-name key x two last-name words: two tokens
    two = _tokens([dict(first="FRODO", last="SMITH-JONES")], {"n": ("first", "last")})["blk_n"]
    assert len(set(two[0])) == 2


def test_the_linkage_side_blocks_on_the_encoded_rules() -> None:
    rules = {**{r: list(p) for r, p in DEFAULT_RULES.items()},
             "last_area": ["last_soundex", "zip3"]}
    settings = EncodingSettings(blocking=rules)
    assert settings.validate() == []
    assert settings.sha256() != EncodingSettings().sha256()    # the files say so
    rows = [dict(first="MARY", last="SMITH", zip="21217", group="K1", dob="1980-01-02"),
            dict(first="ROSE", last="SMYTHE", zip="21230", group="K2", dob="1990-05-06",
                 number="99", street="OAK AVE")]
    table = encode_extract(persons(rows), KEY, settings, {})
    assert block_rules(table) == list(rules)
    pairs = candidate_pairs(table, block_rules(table))
    assert len(pairs) == 1 and pairs.rule_names[-1] == "last_area"
    assert int(pairs.rules[0]) == 1 << (len(rules) - 1)     # only the new rule found it
    default = encode_extract(persons(rows), KEY, EncodingSettings(), {})
    assert len(candidate_pairs(default, block_rules(default))) == 0


@pytest.mark.parametrize("rules, says", [
    ({}, "1 to 16 rules"),
    ({"x": []}, "at least one part"),
    ({"x": ["zip4"]}, "unknown part 'zip4'"),
    ({"bad name": ["dob"]}, "letters, digits"),
    ({f"r{i}": ["dob"] for i in range(17)}, "1 to 16 rules"),
])
def test_rule_problems_name_the_rule(rules: dict, says: str) -> None:
    problems = rule_problems(rules)
    assert problems and says in problems[0]


def test_config_file_adds_a_rule(tmp_path: Path) -> None:
    from pipeline.config import ConfigError, load_settings

    path = tmp_path / "c.toml"
    path.write_text('[encoding.blocking]\nlast_area = ["last_soundex", "postcode_area"]\n')
    settings = load_settings(path)
    assert list(settings.encoding.blocking)[-1] == "last_area"
    assert set(DEFAULT_RULES) < set(settings.encoding.blocking)
    path.write_text('[encoding.blocking]\nlast_area = ["surname"]\n')
    with pytest.raises(ConfigError, match="unknown part 'surname'"):
        load_settings(path)


def test_default_tokens_group_records_as_before() -> None:
    """The default rules as declared parts group a hand-made set exactly as the rules
    written out did (the equality of the tokens' partitions on a synthetic night was
    checked when the rules became declarations; this pins a small case)."""
    rows = [dict(first="JOHN", last="SMITH", dob="1980-01-02", zip="21217", ssn="123456789"),
            dict(first="JOHN", last="SMITH", dob="1980-02-01", zip="21217", group="K2"),
            dict(first="JOHN", last="SMYTH", dob="1981-01-02", zip="21230", group="K3",
                 number="5", street="ELM ST", ssn="123456789")]
    tok = _tokens(rows)
    assert list(tok) == [f"blk_{r}" for r in DEFAULT_RULES]
    expected = {"ssn": {(0, 2)}, "dob_name": {(0, 1)}, "name_area": {(0, 1), (0, 2), (1, 2)},
                "name": {(0, 1)}, "address": {(0, 1)}, "dob_area": {(0, 1)},
                "number_zip": {(0, 1)}, "name_yob": {(0, 1)}}
    for rule, pairs in expected.items():
        got = {(a, b) for a in range(3) for b in range(a + 1, 3)
               if _meet(tok[f"blk_{rule}"], a, b)}
        assert got == pairs, rule
