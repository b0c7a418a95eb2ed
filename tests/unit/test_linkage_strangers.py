"""Same-name same-birth-date strangers: a small synthetic night plus, as in a city, people
with the commonest names (Census top five first names and surnames) who share a birth
date with a stranger of the same name in another county, and people with rare names
(the Census tail) who moved across the state, with the same evidence.

Fellegi-Sunter takes name and birth date as independent among non-matches, so two
agreeing on a common name and a birth date look as sure as two agreeing on a rare name;
where such strangers are frequent the model must learn it from tonight's pairs whose SSNs
refute identity, and per how rare the names are, so the rare name still links.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from people import across_state, link_night_with, random_dob, random_ssn

from linkage.link import LinkResult

COMMON_FIRST = ("JAMES", "MICHAEL", "ROBERT", "JOHN", "DAVID")
COMMON_LAST = ("SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES")
STRANGERS = 300          # pairs; the first half carry an SSN on both sides (they differ)
MOVERS = 40              # rare-named people with a DHS and a DPSCS record


def _hand_made(seed: int = 5) -> dict[str, list[dict]]:
    from pipeline.synth.vocab import census

    rng = np.random.default_rng(seed)
    rare_first, rare_last = census("male")[0][700:700 + MOVERS], \
        census("last")[0][15000:15000 + MOVERS]
    out: dict[str, list[dict]] = {"DHS": [], "DJS": [], "DPSCS": []}
    for i in range(STRANGERS):
        name = dict(first=COMMON_FIRST[i % 5], last=COMMON_LAST[(i // 5) % 5])
        dob = random_dob(rng)
        with_ssn = i < STRANGERS // 2
        across_state(out, i, "97", name, dob, random_ssn(rng) if with_ssn else None,
                     random_ssn(rng) if with_ssn else None)
    for i in range(MOVERS):
        name = dict(first=str(rare_first[i]), last=str(rare_last[i]))
        across_state(out, i, "98", name, random_dob(rng), None, random_ssn(rng))
    return out


@pytest.fixture(scope="module")
def result(small_night: Path) -> LinkResult:
    return link_night_with(small_night, _hand_made())


def _same_person(result: LinkResult, dhs: list[str], dpscs: list[str]) -> np.ndarray:
    person = result.records.set_index(["agency", "record_id"])["person"]
    return person.loc[[("DHS", x) for x in dhs]].to_numpy() == \
        person.loc[[("DPSCS", x) for x in dpscs]].to_numpy()


def test_common_name_strangers_with_one_birth_date_stay_apart(result: LinkResult) -> None:
    """Those without an SSN on one side: nothing but a common name and a birth date
    agree, in counties 200 miles apart."""
    half = range(STRANGERS // 2, STRANGERS)
    joined = _same_person(result, [f"C97{i:07d}" for i in half], [f"97{i:06d}" for i in half])
    assert joined.mean() <= 0.05


def test_rare_name_with_the_same_evidence_links(result: LinkResult) -> None:
    joined = _same_person(result, [f"C98{i:07d}" for i in range(MOVERS)],
                          [f"98{i:06d}" for i in range(MOVERS)])
    assert joined.mean() >= 0.9


def test_the_namesake_birth_dates_are_measured_and_reported(result: LinkResult) -> None:
    """The model measured how often same-named strangers share a birth date, by rarity:
    far above chance for the commonest names here, near chance for rare ones."""
    from linkage.compare import COMPARISON_NAMES, DOB_EXACT

    model = result.model
    assert "dob" in model.u_names
    seen = model.sessions["namesakes"]
    assert seen["pairs"] >= STRANGERS // 2
    chance = model.u[COMPARISON_NAMES.index("dob")][DOB_EXACT]
    assert model.u_names["dob"][0, DOB_EXACT] > 50 * chance        # both names very common
    assert model.u_names["dob"][-1, DOB_EXACT] < 10 * chance       # both rare
    assert model.to_json()["u_given_names"]["dob"]
