"""Encoding settings (``[encoding]`` in ``configs/default.toml``) and the field catalogue.

The catalogue says what each encoded field is made of (which person-frame columns, which
tokenizer); it is code, because changing it changes what the linkage side compares. Sizes,
hash counts and the hardening are settings, recorded in every encoded file's metadata so
the linkage side knows them and refuses files encoded differently.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .blocking import DEFAULT_RULES, rule_problems


@dataclass(frozen=True)
class FieldSpec:
    """One encoded field: ``enc_<name>`` built from ``tokenizer`` tokens of its value."""

    name: str
    tokenizer: str
    description: str


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("first_name", "bigrams", "first name"),
    FieldSpec("middle_name", "bigrams", "middle name or initial"),
    FieldSpec("last_name", "bigrams", "last name (suffix split off)"),
    FieldSpec("name_pair", "bigrams", "first and last name in alphabetical order (a swap of "
                                      "given and family name encodes alike)"),
    FieldSpec("first_keys", "words", "nickname-tolerant first-name keys, alias first names"),
    FieldSpec("last_words", "words", "words of the last name and alias last names "
                                     "(hyphenated and maiden names share a word)"),
    FieldSpec("dob", "dob", "date of birth: year, month, day, unordered month/day pair"),
    FieldSpec("sex", "words", "sex"),
    FieldSpec("suffix", "words", "name suffix (JR, SR, III): father and son namesakes"),
    FieldSpec("ssn", "positional", "SSN digits with their positions (placeholders missing)"),
    FieldSpec("street", "bigrams", "house number and street name (USPS Pub 28)"),
    FieldSpec("unit", "words", "apartment or unit"),
    FieldSpec("zip", "zip", "ZIP5 and its 3-digit prefix"),
    FieldSpec("yob", "year_window", "birth year as the years around it: the distance "
                                    "grows with the years apart (a typo or a generation)"),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)

OPTIONAL_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("place", "bigrams", "birth place, where a data set has one (the agency "
                                  "extracts do not; the person frame's ``birth_place``)"),
    FieldSpec("occupation", "bigrams", "occupation, where a data set has one (historical and "
                                       "census records; the person frame's ``occupation``)"),
)
"""Fields encoded only when ``[encoding] optional_fields`` names them: a file without
them is the file it was before they existed (same columns, same fingerprint)."""
OPTIONAL_FILTERS: dict[str, list[int]] = {"place": [256, 8], "occupation": [256, 8]}
OPTIONAL_COLUMNS: dict[str, str] = {"place": "birth_place", "occupation": "occupation"}
"""The person-frame column each optional field is encoded from (absent from the
contracts' frames: missing)."""

DEFAULT_FILTERS: dict[str, list[int]] = {
    "first_name": [256, 10], "middle_name": [128, 8], "last_name": [256, 10],
    "name_pair": [256, 8],
    "first_keys": [128, 8], "last_words": [128, 8], "dob": [128, 10], "sex": [32, 4], "suffix": [32, 4],
    "ssn": [128, 8], "street": [256, 6], "unit": [64, 6], "zip": [64, 8],
    "yob": [256, 3],
}


@dataclass(frozen=True)
class EncodingSettings:
    """``[encoding]``: see ``configs/default.toml`` for each setting.

    Attributes:
        key_file: path of the linkage key; empty means ``SST_LINKAGE_KEY_FILE``.
        filters: per field, ``[bits, hashes per token]`` before balancing.
        balance: append each filter's complement and shuffle with a secret permutation.
        flip_fraction: share of each balanced filter's bits flipped per record, on the
            fields in ``flip_fields``.
        flip_fields: fields whose filters get record-level random flips.
        blocking: blocking rule name -> the parts its tokens combine
            (:data:`hashing.blocking.PARTS`); the default suits the agency nights.
        diffusion: taps per output bit of the keyed linear diffusion (each bit of a
            record's balanced, flipped filter replaced by the XOR of ``diffusion`` of its
            bits); 0 turns it off. The linkage side must invert it to read distances
            (:func:`data_contracts.encoded.undiffused_distance`).
        diffusion_fields: fields whose filters are diffused.
        optional_fields: :data:`OPTIONAL_FIELDS` to encode as well (flipped like the
            identifiers); their filters from ``filters`` or :data:`OPTIONAL_FILTERS`.
    """

    key_file: str = ""
    blocking: dict[str, list[str]] = field(
        default_factory=lambda: {r: list(p) for r, p in DEFAULT_RULES.items()})
    filters: dict[str, list[int]] = field(default_factory=lambda: dict(DEFAULT_FILTERS))
    balance: bool = True
    flip_fraction: float = 0.05
    flip_fields: tuple[str, ...] = ("first_name", "middle_name", "last_name", "name_pair",
                                    "first_keys",
                                    "last_words", "dob", "ssn", "street", "zip", "yob")
    diffusion: int = 0
    diffusion_fields: tuple[str, ...] = ("first_name", "middle_name", "last_name",
                                         "name_pair", "first_keys", "last_words")
    optional_fields: tuple[str, ...] = ()

    def validate(self) -> list[str]:
        """Problems with the settings, as ``key: what is wrong`` strings."""
        problems = []
        optional = [f.name for f in OPTIONAL_FIELDS]
        bad = [f for f in self.optional_fields if f not in optional]
        if bad:
            problems.append(f"optional_fields: unknown field {bad[0]} ({', '.join(optional)})")
        for name, spec in self.filters.items():
            if name not in FIELD_NAMES and name not in optional:
                problems.append(f"filters.{name}: not an encoded field ({', '.join(FIELD_NAMES)})")
                continue
            if (not isinstance(spec, (list, tuple)) or len(spec) != 2
                    or not all(isinstance(v, int) for v in spec)):
                problems.append(f"filters.{name}: must be [bits, hashes]")
                continue
            bits, hashes = spec
            if bits < 8 or bits > 4096 or bits & (bits - 1):
                problems.append(f"filters.{name}: bits must be a power of two from 8 to 4096")
            if not 1 <= hashes <= 32:
                problems.append(f"filters.{name}: hashes must be 1 to 32")
        missing = [f for f in FIELD_NAMES if f not in self.filters]
        if missing:
            problems.append(f"filters: missing {', '.join(missing)}")
        if not 0 <= self.flip_fraction <= 0.25:
            problems.append("flip_fraction: must be between 0 and 0.25")
        bad = [f for f in self.flip_fields if f not in FIELD_NAMES]
        if bad:
            problems.append(f"flip_fields: unknown field {bad[0]}")
        if (isinstance(self.diffusion, bool) or not isinstance(self.diffusion, int)
                or self.diffusion == 1 or not 0 <= self.diffusion <= 16):
            problems.append("diffusion: must be 0 (off) or 2 to 16 taps per bit")
        bad = [f for f in self.diffusion_fields if f not in FIELD_NAMES]
        if bad:
            problems.append(f"diffusion_fields: unknown field {bad[0]}")
        problems += rule_problems(self.blocking)
        return problems

    def diffused(self, name: str) -> int:
        """Taps per bit of the diffusion of ``enc_<name>`` (0: not diffused)."""
        return self.diffusion if name in self.diffusion_fields else 0

    def encoded_fields(self) -> tuple[FieldSpec, ...]:
        """The fields a file carries: :data:`FIELDS`, then the optional ones turned on."""
        return FIELDS + tuple(f for f in OPTIONAL_FIELDS if f.name in self.optional_fields)

    def filter_spec(self, name: str) -> list[int]:
        """``[bits, hashes]`` of a field's filter before balancing."""
        return list(self.filters.get(name) or OPTIONAL_FILTERS[name])

    def flipped(self, name: str) -> bool:
        """Whether ``enc_<name>`` gets record-level flips (optional fields always do)."""
        return self.flip_fraction > 0 and (name in self.flip_fields
                                           or name in self.optional_fields)

    def encoded_bits(self, name: str) -> int:
        """Length in bits of ``enc_<name>`` as stored (doubled by balancing)."""
        return self.filter_spec(name)[0] * (2 if self.balance else 1)

    def describe(self) -> dict[str, Any]:
        """What the encoded file's metadata records (no key, no key path)."""
        d = asdict(self)
        d.pop("key_file")
        if self.blocking == {r: list(p) for r, p in DEFAULT_RULES.items()}:
            d.pop("blocking")   # default rules: the fingerprint files had before the setting
        if not self.diffusion:
            # Off: recorded as absent, so files encoded without diffusion keep the
            # fingerprint they had before the setting existed.
            d.pop("diffusion")
            d.pop("diffusion_fields")
        if not self.optional_fields:
            d.pop("optional_fields")    # none: the fingerprint files had before the setting
        else:
            d["filters"] = {**{f: self.filter_spec(f) for f in self.optional_fields},
                            **d["filters"]}
            d["flip_fields"] = [*d["flip_fields"], *(f for f in self.optional_fields
                                                     if f not in self.flip_fields)]
        d["fields"] = {f.name: {"tokenizer": f.tokenizer, "bits": self.encoded_bits(f.name)}
                       | ({"diffusion": self.diffused(f.name)} if self.diffused(f.name) else {})
                       for f in self.encoded_fields()}
        return json.loads(json.dumps(d))

    def sha256(self) -> str:
        """Fingerprint of :meth:`describe` (files encoded alike share it)."""
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()
