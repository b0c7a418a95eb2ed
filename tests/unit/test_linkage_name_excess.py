"""Names that run in families: a small synthetic night plus people with rare names (the
Census tail) who share first name, surname and birth date with a stranger in another
county far more often than the names' frequencies make likely.

``u`` of a name is its share among random pairs, and Fellegi-Sunter multiplies first and
last name as independent, so two rare names agreeing look like proof. The model must
measure the excess on tonight's pairs whose SSNs refute identity, per rarity, and weigh
the names by it: the look-alikes without an SSN on one side then stay apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from people import across_state, link_night_with, random_dob, random_ssn

from linkage.link import LinkResult
from linkage.model import N_RARITY

REFUTED = 80             # look-alike pairs with an SSN on both sides (they differ)
UNREFUTED = 40           # the same, one side without an SSN


def _look_alikes(seed: int = 9) -> dict[str, list[dict]]:
    from pipeline.synth.vocab import census

    rng = np.random.default_rng(seed)
    n = REFUTED + UNREFUTED
    first, last = census("female")[0][3000:3000 + n], census("last")[0][17000:17000 + n]
    out: dict[str, list[dict]] = {"DHS": [], "DJS": [], "DPSCS": []}
    for i in range(n):
        name = dict(first=str(first[i]), last=str(last[i]), sex="F")
        dob = random_dob(rng)
        across_state(out, i, "96", name, dob, random_ssn(rng) if i < REFUTED else None,
                     random_ssn(rng))
    return out


@pytest.fixture(scope="module")
def result(small_night: Path) -> LinkResult:
    return link_night_with(small_night, _look_alikes())


def test_the_excess_of_rare_namesakes_is_measured(result: LinkResult) -> None:
    excess = result.model.namesake_excess
    assert excess is not None and len(excess) == N_RARITY
    assert excess.max() > np.log(30)                # rare names: far above their frequency
    assert excess[0] == 0.0                         # the commonest: nothing refutes more
    assert result.model.sessions["namesakes"]["log_excess_by_rarity"] == \
        pytest.approx([float(x) for x in excess], abs=1e-3)


def test_look_alikes_without_an_ssn_stay_apart(result: LinkResult) -> None:
    """Rare first name, rare surname and birth date agree, counties 200 miles apart, no
    SSN on one side: where tonight's SSNs show such pairs are mostly strangers, they do
    not link (before the excess was measured, 40 of 40 did)."""
    person = result.records.set_index(["agency", "record_id"])["person"]
    rows = range(REFUTED, REFUTED + UNREFUTED)
    joined = person.loc[[("DHS", f"C96{i:07d}") for i in rows]].to_numpy() == \
        person.loc[[("DPSCS", f"96{i:06d}") for i in rows]].to_numpy()
    assert joined.mean() <= 0.1
