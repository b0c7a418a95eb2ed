"""Reference populations an attacker aligns the encodings with, and the scoring of guesses.

A :class:`Reference` is a ranking of values with their shares, most common first:

* ``night``: the night's own distribution of each field (what an attacker who knew the
  exact frequencies of this very population would hold: an upper bound on what public
  statistics give). Ties are broken at random, never by record order.
* ``public``: what is published: the US Census name frequency files the ``names``
  package carries (first names: male and female files pooled; last names). The
  ``zipcodes`` package lists ZIP codes but no populations, so ZIPs, birth dates, streets
  and SSNs have the ``night`` reference only.

:func:`score` turns an attack's guesses into the two shares the audit reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

PUBLIC_FIELDS: dict[str, str] = {"first_name": "first", "middle_name": "first",
                                 "last_name": "last", "last_words": "last"}
"""Fields with a public reference, and which Census file it is."""


@dataclass(frozen=True)
class Reference:
    """A ranking of values, most common first.

    Attributes:
        name: ``night`` or ``public``.
        values: object array of the values, ranked.
        shares: their shares (descending).
    """

    name: str
    values: np.ndarray
    shares: np.ndarray

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Truth:
    """The plaintext of one field, for scoring only (the attacks never see it).

    Attributes:
        codes: per record with a value, the index of its value in ``values``.
        values: distinct values, ranked like the night reference.
        shares: share of records holding each value (the chance a blind guess is right).
    """

    codes: np.ndarray
    values: np.ndarray
    shares: np.ndarray

    @property
    def records(self) -> int:
        return len(self.codes)


def night_truth(values: pa.Array, rng: np.random.Generator) -> tuple[Truth, Reference]:
    """The plaintext of a field (records with a value only, in record order) as scoring
    codes, and the ``night`` reference made from the same distribution."""
    encoded = pc.dictionary_encode(values.drop_null() if isinstance(values, pa.Array)
                                   else pa.array(values).drop_null())
    idx = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    distinct = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
    counts = np.bincount(idx, minlength=len(distinct))
    order = np.lexsort((rng.random(len(distinct)), -counts))     # ties at random
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    shares = counts[order] / max(len(idx), 1)
    ranked = distinct[order]
    return (Truth(codes=rank[idx], values=ranked, shares=shares),
            Reference("night", ranked, shares))


def public_reference(field: str) -> Reference | None:
    """The Census reference of a field, or None when there is none."""
    kind = PUBLIC_FIELDS.get(field)
    if kind is None:
        return None
    from pipeline.synth.vocab import census

    if kind == "last":
        frames = [census("last")]
    else:
        frames = [census("male"), census("female")]
    parts = []
    for names, cum in frames:
        share = np.diff(np.concatenate([[0.0], cum]))
        parts.append(pd.Series(share / len(frames), index=names))
    s = pd.concat(parts).groupby(level=0).sum().sort_values(ascending=False, kind="stable")
    return Reference("public", s.index.to_numpy(dtype=object), s.to_numpy())


def to_truth_codes(reference: Reference, truth: Truth) -> np.ndarray:
    """For each value of ``reference``, its index in ``truth.values`` (-1 if the night has
    no record with it)."""
    if reference.name == "night":
        return np.arange(len(reference))
    lookup = pd.Series(np.arange(len(truth.values)), index=truth.values)
    return lookup.reindex(reference.values).fillna(-1).to_numpy().astype(np.int64)


@dataclass(frozen=True)
class Score:
    """What an attack achieved on one field or rule.

    Attributes:
        records: share of records whose value the attacker names correctly, beyond what
            naming the same values blindly would get (the expected hits of guessing
            ``v`` for a record are the share of ``v``).
        values: share of distinct values the attacker can name: values ``v`` with at
            least one record named ``v`` correctly and at least half of the records it
            names ``v`` being ``v``.
        guessed: share of records the attacker named at all.
    """

    records: float
    values: float
    guessed: float

    def as_dict(self) -> dict[str, float]:
        return {"records": round(self.records, 5), "values": round(self.values, 5),
                "guessed": round(self.guessed, 5)}


NO_SCORE = Score(0.0, 0.0, 0.0)


def score(guess: np.ndarray, truth_codes: np.ndarray, shares: np.ndarray,
          n_values: int) -> Score:
    """Score guesses (truth codes, -1 for no guess) against the truth codes of the same
    records."""
    n = len(truth_codes)
    if n == 0:
        return NO_SCORE
    made = guess >= 0
    correct = made & (guess == truth_codes)
    hits = int(correct.sum())
    chance = float(shares[guess[made]].sum())
    named = np.bincount(guess[made], minlength=n_values)
    right = np.bincount(guess[correct], minlength=n_values)
    known = int(((right >= 1) & (2 * right >= named)).sum())
    return Score(records=max(0.0, (hits - chance) / n), values=known / max(n_values, 1),
                 guessed=float(made.mean()))
