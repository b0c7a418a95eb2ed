"""Namesakes a night is full of: a small synthetic night plus 300 fathers and namesake sons
(Census first names and surnames, one address, no JR or SR on any record; the son an
offender with a DHS case of his own), as the independent nights hold them. EM over
name-sharing pairs learns such namesakes as matches (a birth date a generation apart
became nearly neutral and father and son one person); the model must not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from people import link_night_with

from linkage.link import LinkResult

FAMILIES = 300


def _namesakes(seed: int = 11) -> dict[str, list[dict]]:
    from pipeline.synth.vocab import sample_names

    rng = np.random.default_rng(seed)
    first = sample_names(rng, "male", FAMILIES)
    last = sample_names(rng, "last", FAMILIES)
    out: dict[str, list[dict]] = {"DHS": [], "DJS": [], "DPSCS": []}
    for i in range(FAMILIES):
        born = int(rng.integers(1950, 1975))
        son = born + int(rng.integers(18, 36))
        common = dict(first=str(first[i]), last=str(last[i]), number=str(100 + i),
                      street="NAMESAKE ST")
        out["DHS"] += [
            dict(id=f"C95{i:07d}", group=f"K95{i:06d}", dob=f"{born}-03-{1 + i % 27:02d}",
                 **common),
            dict(id=f"C96{i:07d}", group=f"K96{i:06d}", dob=f"{son}-08-{1 + i % 28:02d}",
                 **common)]
        out["DPSCS"].append(dict(id=f"95{i:06d}", agency="DPSCS", group=f"95{i:06d}",
                                 relationship="SELF", dob=f"{son}-08-{1 + i % 28:02d}",
                                 **common))
    return out


@pytest.fixture(scope="module")
def result(small_night: Path) -> LinkResult:
    return link_night_with(small_night, _namesakes())


@pytest.fixture(scope="module")
def linked(result: LinkResult) -> pd.DataFrame:
    return result.records.set_index(["agency", "record_id"])


def test_fathers_and_namesake_sons_stay_apart(linked: pd.DataFrame) -> None:
    person = linked["person"]
    father = person.loc[[("DHS", f"C95{i:07d}") for i in range(FAMILIES)]].to_numpy()
    son = person.loc[[("DHS", f"C96{i:07d}") for i in range(FAMILIES)]].to_numpy()
    offender = person.loc[[("DPSCS", f"95{i:06d}") for i in range(FAMILIES)]].to_numpy()
    assert (son == offender).mean() > 0.95                # the son is one person
    assert (father == offender).sum() <= 3                # the father is not him
    assert (father == son).sum() <= 3


def test_the_namesakes_estimate_is_flagged_not_used(result: LinkResult) -> None:
    """Too few pairs confirm birth dates by SSN on a small night, so the m that EM gave a
    generation-apart birth date is checked against its plausible bound, reported, and the
    bound used: the level weighs as the strong negative it is."""
    from linkage.compare import COMPARISON_NAMES, DOB_GENERATION

    held = result.model.sessions["confirmed"]["implausible"]
    generation = [x for x in held if x["comparison"] == "dob" and
                  x["level"].startswith("another generation")]
    assert generation and generation[0]["m"] > generation[0]["used"]
    dob = COMPARISON_NAMES.index("dob")
    assert result.model.m[dob][DOB_GENERATION] <= generation[0]["used"] + 1e-9
    assert result.model.weights()[dob][DOB_GENERATION] < -6
