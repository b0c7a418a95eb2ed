"""Agency side: keyed, hardened Bloom-filter encoding of a contract's person records.

Public surface::

    LinkageKey.generate(path) / LinkageKey.load(path)      # hashing.keys
    encode_extract(persons, key, settings, crosswalk) -> pa.Table
    encode_file(persons_parquet, agency, night, key, settings, crosswalk, out_dir)
        -> (path, records)

What leaves: the encoded extract of ``data_contracts.encoded`` (filters, keyed blocking
tokens, a keyed family-tie pseudonym, record kind, relationship, activity date and
community). Same record + same key -> same bytes; another key -> unrelated encodings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_contracts import record_roles
from data_contracts.communities import community_of
from data_contracts.encoded import BASE_COLUMNS, EncodedMeta, encoded_path, write_encoded

from . import _bloom, _hardening, _kernels
from .blocking import RULES, blocking_tokens
from .frequency import FREQUENCY_FIELDS, frequency_class
from .keys import KEY_ENV, LinkageKey, Purpose
from .settings import FIELD_NAMES, EncodingSettings
from .values import arrow_strings, field_values

__all__ = ["FIELD_NAMES", "KEY_ENV", "RULES", "EncodingSettings", "LinkageKey", "Purpose",
           "encode_extract", "encode_file"]


def _single_chunk(frame: pd.DataFrame) -> pd.DataFrame:
    """Arrow-backed columns as one chunk each (a concatenated frame holds several, and
    Arrow kernels over chunked arrays return chunked results)."""
    out = frame.copy(deep=False)
    for name in frame.columns:
        arr = frame[name].array
        if isinstance(arr, (pd.arrays.ArrowStringArray, pd.arrays.ArrowExtensionArray)):
            chunked = pa.array(arr)
            if isinstance(chunked, pa.ChunkedArray) and chunked.num_chunks > 1:
                out[name] = pd.Series(type(arr)(chunked.combine_chunks()), index=frame.index)
    return out


def _factorize(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 for missing) and distinct values (object array), via Arrow's C++ hashing."""
    encoded = pc.dictionary_encode(values)
    codes = encoded.indices.fill_null(-1).to_numpy().astype(np.int64)
    return codes, encoded.dictionary.to_numpy(zero_copy_only=False)


def _fixed_binary(rows: np.ndarray, valid: np.ndarray) -> pa.Array:
    """``uint8[n, nbytes]`` + validity -> fixed_size_binary(nbytes) with nulls."""
    n, nbytes = rows.shape
    validity = pa.array(valid, type=pa.bool_()).buffers()[1]
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(nbytes), n, [validity, pa.py_buffer(np.ascontiguousarray(rows))],
        null_count=int(n - valid.sum()))


def _encode_field(index: int, name: str, tokenizer: str, value: pa.Array,
                  record_seed: np.ndarray, key: LinkageKey, settings: EncodingSettings
                  ) -> pa.Array:
    """One ``enc_<name>`` column: filters of distinct values, gathered, flipped, then
    diffused where the settings say so."""
    bits, hashes = settings.filter_spec(name)
    codes, uniques = _factorize(value)
    perm = _hardening.secret_permutation(key.derive(Purpose.PERMUTATION, name),
                                         2 * bits) if settings.balance else None
    filters = _bloom.build_filters(uniques, _bloom.TOKENIZERS[tokenizer],
                                   key.derive(Purpose.FIELD, name), bits, hashes, perm)
    valid = codes >= 0
    n_flips, seeds = 0, None
    if settings.flipped(name):
        n_flips = int(round(settings.flip_fraction * filters.shape[1] * 8))
        seeds = _hardening.splitmix64(record_seed[valid] ^ np.uint64(index + 1))
    if _kernels.AVAILABLE:
        rows = _kernels.gather_flip(codes, filters, seeds, n_flips)
    else:
        rows = np.zeros((len(value), filters.shape[1]), dtype=np.uint8)
        rows[valid] = filters[codes[valid]]
        if n_flips:
            rows[valid] = _hardening.flip_bits(rows[valid], seeds, n_flips)
    t = settings.diffused(name)
    if t:   # after the flips: each flip spreads over about t bits (benchmarks README)
        rows[valid] = _hardening.diffuse(rows[valid], _hardening.field_diffusion(
            key, name, filters.shape[1] * 8, t, perm))
    return _fixed_binary(rows, valid)


def encode_extract(persons: pd.DataFrame, key: LinkageKey, settings: EncodingSettings,
                   crosswalk: dict[str, str]) -> pa.Table:
    """Encode one agency's person records.

    Args:
        persons: a contract's person frame (``data_contracts.PERSON_COLUMNS``).
        key: the linkage key shared by the three agencies.
        settings: encoding settings (validated).
        crosswalk: ZIP5 -> community.

    Returns:
        The encoded table (columns of ``data_contracts.encoded``), one row per record.
    """
    p = _single_chunk(persons.reset_index(drop=True))
    agencies = set(p["agency"].unique())
    if len(agencies) > 1:
        raise ValueError("encode one agency's records at a time")
    agency = agencies.pop() if agencies else ""
    ties = _hardening.siphash(arrow_strings(p["family_group"]), key.derive(Purpose.TIE))
    record_seed = _hardening.siphash(arrow_strings(p["record_id"]),
                                     key.derive(Purpose.RECORD, agency))
    values = field_values(p)
    columns: dict[str, pa.Array] = {
        **{c: arrow_strings(p[c]) for c in ("agency", "record_id", "record_kind",
                                            "relationship")},
        "family_tie": pa.array(ties, type=pa.uint64()),
        "activity_date": pa.array(p["activity_date"], type=pa.timestamp("ns"),
                                  from_pandas=True).cast(pa.date32()),
        "community": arrow_strings(community_of(p["addr_zip5"], p["addr_state"], crosswalk)),
        **record_roles(p),
    }
    fields = settings.encoded_fields()
    for i, spec in enumerate(fields):
        columns[f"enc_{spec.name}"] = _encode_field(i, spec.name, spec.tokenizer,
                                                    values[spec.name], record_seed, key,
                                                    settings)
    for name in FREQUENCY_FIELDS:
        columns[f"freq_{name}"] = frequency_class(values[name])
    rules = {rule: tuple(parts) for rule, parts in settings.blocking.items()}
    columns.update(blocking_tokens(p, values, key.derive(Purpose.BLOCKING), rules))
    order = [c for c, _ in BASE_COLUMNS] + [f"enc_{f.name}" for f in fields] + [
        f"freq_{f}" for f in FREQUENCY_FIELDS] + [f"blk_{r}" for r in rules]
    schema = pa.schema([(c, columns[c].type) for c in order])
    return pa.Table.from_arrays([columns[c] for c in order], schema=schema)


def _pandas_type(t: pa.DataType) -> object:
    """Staged person frames come back Arrow-backed, as the contracts made them."""
    if t == pa.string():
        return pd.StringDtype("pyarrow")
    if pa.types.is_list(t):
        return pd.ArrowDtype(t)
    return None


def encode_file(persons_parquet: Path, agency: str, night: str, key: LinkageKey,
                settings: EncodingSettings, crosswalk: dict[str, str], out_dir: Path
                ) -> tuple[Path, int]:
    """Encode a staged person frame and write ``encoded_<agency>_<night>.parquet``.

    Returns:
        The encoded file's path and its number of records.
    """
    persons = pq.read_table(persons_parquet).to_pandas(types_mapper=_pandas_type)
    table = encode_extract(persons, key, settings, crosswalk)
    meta = EncodedMeta(key_id=key.key_id, agency=agency, night=night,
                       encoding=settings.describe(), encoding_sha256=settings.sha256())
    path = write_encoded(table, meta, encoded_path(out_dir, agency, night))
    return path, table.num_rows
