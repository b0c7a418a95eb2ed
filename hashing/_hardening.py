"""Hazmat: hardening of Bloom filters against frequency and pattern-mining attacks.

- **Balancing** (Schnell & Borgs 2016): a filter is concatenated with its complement and
  the bits are shuffled by a secret permutation (from the key), so every filter of a field
  has exactly half its bits set: the number of set bits no longer tells the length of a
  name, and single set bits no longer stand for single q-grams.
- **Record-level random bit flips** (in the spirit of BLIP, Schnell & Borgs 2016): each
  record's filter gets a fixed number of bits flipped at positions drawn from a keyed
  per-record seed. Equal names no longer give equal filters (so equal filters cannot be
  counted), yet the same record always encodes the same way (deterministic), and true
  matches lose only a little Dice similarity.

Per-record seeds are SipHash-2-4 (keyed with a 128-bit HKDF subkey that is specific to the
agency) of the record id; positions come from a splitmix64 stream of that seed.
"""

from __future__ import annotations

import numpy as np

from . import _kernels

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def siphash(values, subkey: bytes) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Keyed SipHash-2-4 (128-bit key) of each string's UTF-8 bytes, as uint64.

    Args:
        values: a pandas string Series or a pyarrow string array (null hashes as "").
        subkey: the purpose's HKDF subkey (its first 16 bytes key the PRF).
    """
    return _kernels.siphash_strings(subkey, values)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer over a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def secret_permutation(subkey: bytes, n: int) -> np.ndarray:
    """A permutation of ``range(n)`` that only the key holders can compute (Philox keyed
    with 128 bits of the subkey)."""
    key = int.from_bytes(subkey[:16], "little")
    return np.random.Generator(np.random.Philox(key=key)).permutation(n)


def balance(packed: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Filters ``uint8[n, m/8]`` -> balanced filters ``uint8[n, 2m/8]`` (half the bits set):
    bit ``j`` of ``concat(filter, complement)`` moves to ``permutation[j]``.

    The reference definition; :func:`hashing._bloom.build_filters` builds the same balanced
    filters directly (the tests hold the two equal)."""
    bits = np.unpackbits(packed, axis=1)
    both = np.concatenate([bits, 1 - bits], axis=1)
    out = np.empty_like(both)
    out[:, permutation] = both
    return np.packbits(out, axis=1)


def flip_bits(packed: np.ndarray, seeds: np.ndarray, n_flips: int) -> np.ndarray:
    """Flip ``n_flips`` keyed-random bits of each row (in place; returns ``packed``).

    Args:
        packed: ``uint8[n, nbytes]`` filters, one row per record.
        seeds: ``uint64[n]`` per-record keyed seeds.
        n_flips: bits flipped per record (a position drawn twice flips back: rare).
    """
    n, nbytes = packed.shape
    if n == 0 or n_flips <= 0:
        return packed
    nbits = nbytes * 8
    rows = np.arange(n)
    state = seeds.astype(np.uint64)
    for _ in range(n_flips):
        state = splitmix64(state)
        pos = (state % np.uint64(nbits)).astype(np.int64)
        packed[rows, pos >> 3] ^= (np.uint8(0x80) >> (pos & 7).astype(np.uint8))
    return packed
