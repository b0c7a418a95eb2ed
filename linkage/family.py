"""Family context for derived persons (guardians and contacts), who carry little: a name,
rarely a birth date, for a guardian the youth's address, for a contact nothing more.

* :func:`borrow_family_address`: a contact has no address of its own; it is compared with
  the address of the offender it is attached to (its likely residence), as a guardian is
  with the youth's. Only the linkage side's copy changes; the encoded files do not.
* :func:`family_support`: whether the two records' family groups are already joined by a
  link between records that carry a birth date (a youth found in the mother's DHS case):
  "their relatives link into the same family on the other side".
* :func:`needs_context`: a pair of which one side is derived and which no birth date
  compares can link only with family context: the same street, or family support. A name
  in the same ZIP code alone is never enough (statewide, common names repeat hundreds of
  times per ZIP, and the synthetic nights plant look-alikes of family members there).
* :func:`within_family_pairs`: the pairs of the second pass, every two records of two
  family groups that one family (after the first pass) holds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from . import _records
from .blocking import block_pairs
from .compare import COMPARISON_NAMES, F_KEY_SHARED, SAME_STREET, level

ADDRESS_FIELDS = ("street", "unit", "zip")


def address_source(records: pa.Table) -> np.ndarray:
    """Per record, the row whose address it is compared with: its own, or for a contact
    without one, its family's primary's (the offender it is attached to)."""
    kind = records.column("record_kind").to_numpy(zero_copy_only=False)
    street_valid = records.column("enc_street").is_valid().to_numpy(zero_copy_only=False)
    zip_valid = records.column("enc_zip").is_valid().to_numpy(zero_copy_only=False)
    take = np.arange(records.num_rows)
    borrower = (kind == "contact") & ~street_valid & ~zip_valid
    if not borrower.any():
        return take
    df = pd.DataFrame({"agency": records.column("agency").to_numpy(zero_copy_only=False),
                       "tie": records.column("family_tie").to_numpy(),
                       "row": take})
    primaries = df[(kind == "primary") & (street_valid | zip_valid)] \
        .drop_duplicates(["agency", "tie"])
    src = df[borrower].merge(primaries, on=["agency", "tie"], suffixes=("", "_from"))
    take[src["row"].to_numpy()] = src["row_from"].to_numpy()
    return take


def borrow_family_address(records: pa.Table) -> pa.Table:
    """``records`` with each address-less contact given its family's primary's address
    filters (``enc_street``, ``enc_unit``, ``enc_zip``): see :func:`address_source`."""
    take = address_source(records)
    if np.array_equal(take, np.arange(records.num_rows)):
        return records
    for name in ADDRESS_FIELDS:
        col = f"enc_{name}"
        records = records.set_column(records.schema.get_field_index(col), col,
                                     records.column(col).take(pa.array(take)))
    return records


def _pair_key(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return np.stack([lo, hi], axis=1)


def family_support(records: pa.Table, left: np.ndarray, right: np.ndarray,
                   link_left: np.ndarray, link_right: np.ndarray) -> np.ndarray:
    """Per pair, whether another link (``link_left``, ``link_right``: links between records
    that carry a birth date) joins the two records' family groups."""
    tie = records.column("family_tie").to_numpy()
    if len(link_left) == 0 or len(left) == 0:
        return np.zeros(len(left), dtype=bool)
    linked = pd.MultiIndex.from_arrays(_pair_key(tie[link_left], tie[link_right]).T)
    asked = pd.MultiIndex.from_arrays(_pair_key(tie[left], tie[right]).T)
    return np.asarray(asked.isin(linked))


def needs_context(records: pa.Table, left: np.ndarray, right: np.ndarray,
                  gamma: np.ndarray) -> np.ndarray:
    """Pairs with a derived record on one side and no birth date compared."""
    derived = _records.derived(records)
    return (derived[left] | derived[right]) & (gamma[:, COMPARISON_NAMES.index("dob")] < 0)


def same_street(gamma: np.ndarray) -> np.ndarray:
    """Pairs at the same street address (same ZIP5)."""
    return gamma[:, COMPARISON_NAMES.index("address")] >= SAME_STREET


def drop_surname_of_coparents(gamma: np.ndarray) -> None:
    """Two guardians (or contacts) of one agency named with the same relationship, at the
    same street, with the same first name or nickname keys are the mother (or father) of
    two siblings; one child's record names her by her maiden name, the other's by her
    married name often enough that the surname says nothing there: it is set to missing
    for those pairs, in place."""
    col = {n: COMPARISON_NAMES.index(n) for n in ("relationship", "address", "first_name",
                                                   "last_name")}
    coparent = (gamma[:, col["relationship"]] == level("relationship", "same")) & \
        (gamma[:, col["address"]] >= SAME_STREET) \
        & (gamma[:, col["first_name"]] >= F_KEY_SHARED)
    gamma[coparent, col["last_name"]] = -1


MAX_FAMILY = 60
"""Families larger than this many records get no within-family pass (a family grown that
large by chaining is for an analyst to look at, not to mine for more links)."""


def within_family_pairs(records: pa.Table, family: np.ndarray,
                        max_family: int = MAX_FAMILY) -> tuple[np.ndarray, np.ndarray]:
    """Record pairs of one family that belong to different family groups: the records the
    first pass brought together through their relatives, among which a guardian or contact
    may be one of the other side's people under a maiden name, a nickname or a typo that no
    blocking key caught. Pairs the first pass linked are among them, so that the second
    pass weighs every pair of the family on one scale. Pairs ``left < right``; the work is
    per family (partitionable by family like blocking is by block)."""
    tie = records.column("family_tie").to_numpy()
    groups = pd.DataFrame({"family": family, "tie": tie}).drop_duplicates()
    several = groups["family"].value_counts()
    rows = np.flatnonzero(np.isin(family, several[several >= 2].index.to_numpy()))
    left, right, _ = block_pairs(rows.astype(np.int64), family[rows], max_family)
    keep = tie[left] != tie[right]
    return left[keep].astype(np.int64), right[keep].astype(np.int64)
