"""The encoded extract: the ONLY thing an agency sends to the linkage side.

``encoded_<agency>_<night>.parquet``, one row per person record (derived guardians and
contacts included). Columns, in order:

===================  =======================  ==============================================
column               Arrow type               meaning
===================  =======================  ==============================================
agency               string                   ``DHS``, ``DJS`` or ``DPSCS``
record_id            string                   the agency's own id (``<youth_id>#guardian1``)
record_kind          string                   ``primary``, ``guardian`` or ``contact``
relationship         string                   case role / guardian or contact relation
family_tie           uint64                   keyed pseudonym of the record's family group
activity_date        date32                   last activity / intake / status date
community            string                   community of the record's ZIP (crosswalk)
role                 string                   what the record is, declared by its agency's
                                              contract (:data:`ROLES`)
id_unique            bool                     the record's id names one person, and no
                                              other ``id_unique`` id of the agency names
                                              that person (a DJS youth id, a DPSCS sid)
group_distinct       bool                     the agency lists each person once in a
                                              family group (DJS, DPSCS; not DHS, whose
                                              cases hold duplicate client ids)
address_priority     uint8                    rank of the record's address as the family's
                                              residence when two of its addresses are
                                              equally recent: the higher wins
enc_<field>          fixed_size_binary(n)     hardened keyed Bloom filter; null = missing
                                              (``enc_place`` and ``enc_occupation`` only
                                              where ``[encoding] optional_fields`` asks;
                                              a file without them reads them as missing)
freq_<field>         uint8                    frequency class of the name in the agency's
                                              extract (0 very common .. 3 rare; null =
                                              missing), first and last name only
blk_<rule>           list<uint64>             keyed blocking tokens; empty = none
===================  =======================  ==============================================

``role``, ``id_unique``, ``group_distinct`` and ``address_priority`` come from each
agency's declaration (:class:`data_contracts.roles.RecordRoles` in
``data_contracts/agencies/<agency>.py``), never from the linkage side knowing agency
names: a fourth agency declares its own, and an agency without one (a benchmark file)
gets ``unknown``, false, false and 0.

File metadata (``sst.*`` keys in the Arrow schema): ``format_version``, ``key_id``,
``agency``, ``night``, ``encoding`` (the encoding settings as JSON, so the linkage side
knows each filter's size) and ``encoding_sha256``. No name, date of birth, SSN, address
or ZIP is stored in the clear, and nothing is an unkeyed hash of one.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import EncodedFormatError

FORMAT_VERSION = "5"
"""5: ``role``, ``id_unique``, ``group_distinct`` and ``address_priority`` (what each record
is, declared by its agency's contract) added; a version 4 file lacks them. 4: ``enc_yob``
(the years around the birth year) added."""
ENCODED_FILE = "encoded_{agency}_{night}.parquet"
BASE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("agency", pa.string()), ("record_id", pa.string()), ("record_kind", pa.string()),
    ("relationship", pa.string()), ("family_tie", pa.uint64()),
    ("activity_date", pa.date32()), ("community", pa.string()),
    ("role", pa.string()), ("id_unique", pa.bool_()), ("group_distinct", pa.bool_()),
    ("address_priority", pa.uint8()),
)
BLOCK_TYPE = pa.list_(pa.uint64())

ROLES: tuple[str, ...] = ("youth", "child", "adult", "parent", "unknown")
"""What a record is, as its agency's contract declares it (column ``role``):

* ``youth``: a young person in the agency's care, the youngest generation of its family
  group (a DJS youth);
* ``child``: the youngest generation of its family group, of any age (a DHS case's
  ``CHILD`` or ``OTHER CHILD``: an adult son is one too);
* ``adult``: an adult by the agency's records (a DPSCS offender, a DHS ``OTHER ADULT``);
* ``parent``: a parent, grandparent or foster parent of its family group's primary person
  (a DJS guardian or a DPSCS contact so named): a generation above the person whose record
  names it;
* ``unknown``: the records say nothing of the person's age (a DHS case head, an aunt)."""
YOUNGEST_ROLES = frozenset({"youth", "child"})
"""Roles of the youngest generation: never one person with a :data:`PARENT_ROLES` record."""
PARENT_ROLES = frozenset({"parent"})
"""Roles a generation above the primary person of their family group (the parent of a youth
or of an offender), so never of the youngest generation."""


@dataclass(frozen=True)
class EncodedMeta:
    """What the file metadata declares."""

    key_id: str
    agency: str
    night: str
    encoding: dict[str, Any]
    encoding_sha256: str
    format_version: str = FORMAT_VERSION

    def to_arrow(self) -> dict[bytes, bytes]:
        return {b"sst.format_version": self.format_version.encode(),
                b"sst.key_id": self.key_id.encode(), b"sst.agency": self.agency.encode(),
                b"sst.night": self.night.encode(),
                b"sst.encoding": json.dumps(self.encoding, sort_keys=True).encode(),
                b"sst.encoding_sha256": self.encoding_sha256.encode()}

    @classmethod
    def from_arrow(cls, meta: dict[bytes, bytes] | None, where: str) -> EncodedMeta:
        meta = meta or {}
        try:
            return cls(key_id=meta[b"sst.key_id"].decode(), agency=meta[b"sst.agency"].decode(),
                       night=meta[b"sst.night"].decode(),
                       encoding=json.loads(meta[b"sst.encoding"]),
                       encoding_sha256=meta[b"sst.encoding_sha256"].decode(),
                       format_version=meta[b"sst.format_version"].decode())
        except (KeyError, ValueError):
            raise EncodedFormatError("not an sst-linkage encoded extract (metadata missing)",
                                     where=where, hint="encode it with `sst-link encode`"
                                     ) from None


def encoded_path(folder: Path, agency: str, night: str) -> Path:
    """Where an agency's encoded extract for a night is written."""
    return Path(folder) / ENCODED_FILE.format(agency=agency, night=night)


def check_columns(schema: pa.Schema, where: str) -> None:
    """Raise :class:`EncodedFormatError` unless ``schema`` is an encoded-extract schema."""
    names = schema.names
    base = [n for n, _ in BASE_COLUMNS]
    if names[:len(base)] != base or any(schema.field(n).type != t for n, t in BASE_COLUMNS):
        raise EncodedFormatError("columns are not those of an encoded extract", where=where,
                                 hint="encode it with `sst-link encode`")
    for name in names[len(base):]:
        t = schema.field(name).type
        if name.startswith("enc_") and pa.types.is_fixed_size_binary(t):
            continue
        if name.startswith("blk_") and t == BLOCK_TYPE:
            continue
        if name.startswith("freq_") and t == pa.uint8():
            continue
        raise EncodedFormatError(f"unexpected column {name} ({t})", where=where,
                                 hint="only enc_* filters, freq_* classes and blk_* tokens "
                                      "may follow; a "
                                      "plaintext column must never leave the agency")


def write_encoded(table: pa.Table, meta: EncodedMeta, path: Path) -> Path:
    """Write an encoded extract atomically (temporary name, then rename), mode 0640."""
    check_columns(table.schema, str(path))
    table = table.replace_schema_metadata(meta.to_arrow())
    tmp = Path(path).with_name(f".{Path(path).name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    # Filters with record-level flips are random-looking bits: compressing them, keeping
    # dictionary pages or min/max statistics costs time and saves nothing. The rest (ids,
    # tokens, deterministic filters of repeated values) compresses well with fast zstd.
    flipped = {f"enc_{f}" for f in meta.encoding.get("flip_fields", [])
               if meta.encoding.get("flip_fraction", 0) > 0}
    paths = {c: (f"{c}.list.element" if pa.types.is_list(table.schema.field(c).type) else c)
             for c in table.column_names}
    pq.write_table(table, tmp,
                   compression={p: "none" if c in flipped else "zstd" for c, p in paths.items()},
                   compression_level={p: 1 for c, p in paths.items() if c not in flipped},
                   use_dictionary=[p for c, p in paths.items() if c not in flipped],
                   write_statistics=[p for c, p in paths.items() if not c.startswith("enc_")],
                   row_group_size=256_000)
    tmp.chmod(0o640)
    tmp.rename(path)
    return Path(path)


def read_encoded(path: Path, columns: list[str] | None = None) -> tuple[pa.Table, EncodedMeta]:
    """Read an encoded extract and its metadata, checking the declared format.

    Raises:
        EncodedFormatError: missing file, not parquet, wrong columns or metadata, a
            format version this software does not read, or a role not in :data:`ROLES`.
    """
    path = Path(path)
    try:
        schema = pq.read_schema(path)
    except FileNotFoundError:
        raise EncodedFormatError("encoded extract is missing", where=str(path),
                                 hint="the agency must run `sst-link encode` first") from None
    except (OSError, pa.ArrowException):
        raise EncodedFormatError("not a readable parquet file", where=str(path),
                                 hint="ask the agency to re-encode") from None
    meta = EncodedMeta.from_arrow(schema.metadata, str(path))
    if meta.format_version != FORMAT_VERSION:
        raise EncodedFormatError(f"format version {meta.format_version} is not "
                                 f"{FORMAT_VERSION}", where=str(path),
                                 hint="encode with the same sst-linkage release")
    check_columns(schema, str(path))
    table = pq.read_table(path, columns=columns)
    if "role" in table.column_names:
        roles = set(table.column("role").unique().to_pylist())
        if not roles <= set(ROLES):
            raise EncodedFormatError(
                f"role {sorted(map(str, roles - set(ROLES)))[0]} is not one of "
                f"{', '.join(ROLES)}", where=str(path),
                hint="the agency's contract declares its records' roles; re-encode")
    return table, meta


MAX_BLOCKING_RULES = 16
"""Blocking rules one file may carry (the linkage side keeps a bit per rule for a pair)."""


def block_rules(table: pa.Table) -> list[str]:
    """The blocking rules an encoded table carries (``blk_<rule>`` columns, in file order):
    whatever the agencies' encoding settings declared."""
    return [c.removeprefix("blk_") for c in table.column_names if c.startswith("blk_")]


# How the linkage side reads a diffused field (``fields.<name>.diffusion`` in the file's
# encoding settings): the agency side XORs ``t`` keyed bits per output bit after the flips
# (``hashing._hardening.diffuse``); the distance of two encodings maps back to the distance
# of their filters before flips and diffusion.

def diffused_distance(d: np.ndarray | float, width: int, t: int) -> np.ndarray:
    """Expected Hamming distance of two diffused filters whose inputs are ``d`` bits apart
    (``t`` random taps per output bit: an output bit differs when an odd number of its
    taps do)."""
    p = np.asarray(d, dtype=np.float64) / width
    return 0.5 * width * (1.0 - (1.0 - 2.0 * p) ** t)


def undiffused_distance(h: np.ndarray, width: int, t: int, flips: int = 0) -> np.ndarray:
    """Estimated Hamming distance of two records' filters before their flips and the
    diffusion, from the observed distance ``h`` of their encodings (``width`` bits; each
    record took ``flips`` flips, then the diffusion with ``t`` taps): :func:`diffused_distance`
    is inverted first, then the flips' noise is taken off (each bit differs by flips with
    probability ``q = 2 r (1 - r)``, ``r = flips / width``, so the flipped filters differ
    with ``p (1 - 2 q) + q``). With ``t = 0`` only the flips are taken off. Distances at or
    beyond saturation come back as ``width / 2`` (the values look unrelated)."""
    h = np.asarray(h, dtype=np.float64)
    p = np.clip(h / width, 0.0, 0.5)
    if t > 1:
        p = 0.5 * (1.0 - (1.0 - 2.0 * p) ** (1.0 / t))
    r = flips / width
    q = 2.0 * r * (1.0 - r)
    return np.clip((p - q) / (1.0 - 2.0 * q), 0.0, 0.5) * width
