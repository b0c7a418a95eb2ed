"""The privacy audit's random streams (hashing/audit/): each field and attack draws from a
stream of its own, derived from ``[audit] seed`` and stable names, so a field's figures do
not depend on which other fields are audited with it or in what order (they used to share
one generator: a field's ties and bit samples followed what the fields before it drew)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from data_contracts import find_extracts, load_extract, parse_night
from data_contracts.communities import load_crosswalk
from hashing import EncodingSettings, LinkageKey, encode_extract
from hashing.audit import AuditSettings, audit_night
from hashing.values import field_values

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = AuditSettings(attacks=("frequency", "pattern_mining"), references=("night",),
                         sample_records=300)
SMALL = {"restarts": 2, "max_pool": 60, "graph_values": 120, "candidates": 500,
         "alignment": {"anchors": 40}}
"""A small pattern-mining attack: the test is about which draws a field gets, not about
how much it re-identifies."""


@pytest.fixture(scope="module")
def night(small_night: Path) -> dict[str, Any]:
    """The small night encoded with the default hardening, and each field's plaintext."""
    n, paths = find_extracts(small_night)
    frames = [load_extract(p, a, parse_night(n)).persons for a, p in paths.items()]
    key = LinkageKey.from_bytes(bytes(range(32)))
    crosswalk = load_crosswalk(ROOT / "configs" / "communities.csv")
    settings = EncodingSettings()
    records = pa.concat_tables([encode_extract(f, key, settings, crosswalk) for f in frames])
    parts = [field_values(f) for f in frames]
    plain = {k: pa.concat_arrays([p[k] for p in parts]) for k in parts[0]}
    return {"records": records, "encoding": settings.describe(), "plain": plain}


def _figures(night: dict[str, Any], fields: tuple[str, ...],
             settings: AuditSettings = SETTINGS) -> dict[str, dict[str, Any]]:
    """Per field, its figures (every attack and variant, the worst), timings left out."""
    result = audit_night(night["records"], night["encoding"], night["plain"], settings,
                         fields=fields, blocking=False, **SMALL)
    return {name: {k: v for k, v in r.items() if k != "seconds"}
            for name, r in result["fields"].items()}


def test_a_fields_figures_do_not_depend_on_the_other_fields_or_their_order(night) -> None:
    alone = _figures(night, ("zip",))
    after = _figures(night, ("last_name", "first_name", "zip"))
    before = _figures(night, ("zip", "yob", "last_name"))
    # the same draws whatever ran before it: identical figures, to the last digit
    assert after["zip"] == alone["zip"] == before["zip"]
    assert after["last_name"] == before["last_name"]
    # and the comparison means something: the field was attacked by every variant
    assert set(alone["zip"]["variants"]) >= {"exact", "bit_samples", "clusters",
                                             "pattern_mining"}
    assert alone["zip"]["records"] > 0


def test_a_fields_frequency_figures_do_not_depend_on_the_other_attacks(night) -> None:
    fields = ("first_name", "zip")
    both = _figures(night, fields)
    frequency = _figures(night, fields, AuditSettings(attacks=("frequency",),
                                                      references=("night",)))
    for name in fields:
        for attack in ("frequency_exact",):
            assert frequency[name]["attacks"][attack] == both[name]["attacks"][attack]
        for variant in ("exact", "bit_samples"):
            assert frequency[name]["variants"][variant] == both[name]["variants"][variant]


def test_streams_are_keyed_by_seed_and_names() -> None:
    from hashing.audit import stream

    def draws(seed: int, *names: str | int) -> np.ndarray:
        return stream(seed, *names).random(8)

    same = draws(0, 0, "field", "zip", "frequency", "night")
    assert (same == draws(0, 0, "field", "zip", "frequency", "night")).all()
    for other in (draws(1, 0, "field", "zip", "frequency", "night"),     # another seed
                  draws(0, 1, "field", "zip", "frequency", "night"),     # another draw
                  draws(0, 0, "field", "yob", "frequency", "night"),     # another field
                  draws(0, 0, "field", "zip", "value_attacks", "night")):
        assert not np.isin(other, same).any()
