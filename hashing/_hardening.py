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
- **Diffusion** (Armknecht, Heng & Schnell, PoPETs 2023): each bit of a record's
  (balanced, flipped) filter is replaced by the XOR of ``t`` of its bits, chosen by a keyed
  selection fixed per field and key (:func:`field_diffusion`, :func:`diffuse`). One output
  bit then no longer stands for the positions of single tokens (what pattern mining
  reads), while the Hamming distance of two encodings still grows with that of their
  filters: ``D = L/2 (1 - (1 - 2 d / L)^t)`` for inputs ``d`` bits apart
  (:func:`data_contracts.encoded.diffused_distance`, part of the declared format;
  ``undiffused_distance`` beside it inverts it and takes the flips off). It comes *after* the flips: a flip then changes about ``t`` output bits, so a
  record's noise is spread like its value's bits and cannot be told apart from them (with
  the flips after the diffusion, different values lie ``t`` times further apart than a
  record's flips, and a frequency attack clusters them: benchmarks/README.md).

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


def diffusion_taps(subkey: bytes, width: int, t: int,
                   partner: np.ndarray | None = None, max_rounds: int = 10_000) -> np.ndarray:
    """The keyed selection of the diffusion: ``int64[width, t]``, the ``t`` input bits whose
    XOR makes each output bit.

    Column ``k`` is a permutation of ``range(width)`` (Philox keyed with 128 bits of the
    subkey), so every input bit feeds exactly ``t`` output bits, as in the paper's balanced
    selection. An output bit whose taps repeat a bit (two cancel) or, with ``partner`` (the
    balanced filter's complement pairs), take a bit and its complement (their XOR is
    constant) is repaired by swapping one of its taps with the same column of another,
    keyed-random row: the columns stay permutations.

    Args:
        subkey: the field's diffusion subkey.
        width: filter length in bits (input and output).
        t: taps per output bit (2 or more).
        partner: ``partner[j]`` is the bit holding the complement of bit ``j``, or None.
    """
    if t < 2 or t > width:
        raise ValueError("diffusion needs 2 <= t <= width")
    rng = np.random.Generator(np.random.Philox(key=int.from_bytes(subkey[:16], "little")))
    taps = np.stack([rng.permutation(width) for _ in range(t)], axis=1).astype(np.int64)

    def bad_rows(rows: np.ndarray) -> np.ndarray:
        sub = taps[rows]
        clash = np.zeros(len(rows), dtype=bool)
        for a in range(t):
            for b in range(a + 1, t):
                clash |= sub[:, a] == sub[:, b]
                if partner is not None:
                    clash |= partner[sub[:, a]] == sub[:, b]
        return rows[clash]

    bad = bad_rows(np.arange(width))
    for _ in range(max_rounds):          # a handful of rows per field, not per record
        if not len(bad):
            return taps
        row = int(bad[0])
        col = int(rng.integers(1, t))
        other = int(rng.integers(0, width))
        taps[[row, other], col] = taps[[other, row], col]
        bad = bad_rows(np.union1d(bad, [other]))
    raise ValueError("could not draw a diffusion selection without clashes")  # pragma: no cover


def complement_partners(permutation: np.ndarray) -> np.ndarray:
    """The balanced filter's complement pairs: plain bit ``j`` sits at ``permutation[j]``
    and its complement at ``permutation[m + j]`` (``m`` half the length)."""
    m = len(permutation) // 2
    partner = np.empty(len(permutation), dtype=np.int64)
    partner[permutation[:m]] = permutation[m:]
    partner[permutation[m:]] = permutation[:m]
    return partner


def diffuse(packed: np.ndarray, taps: np.ndarray, chunk: int = 1 << 15) -> np.ndarray:
    """Filters ``uint8[n, nbytes]`` -> diffused filters of the same shape: output bit ``j``
    is the XOR of input bits ``taps[j]`` (vectorized over rows; the loop is over taps)."""
    n, nbytes = packed.shape
    if taps.shape[0] != nbytes * 8:
        raise ValueError("diffusion taps do not match the filter length")
    out = np.empty_like(packed)
    for lo in range(0, n, chunk):
        bits = np.unpackbits(packed[lo:lo + chunk], axis=1)
        acc = bits[:, taps[:, 0]]
        for k in range(1, taps.shape[1]):
            acc ^= bits[:, taps[:, k]]
        out[lo:lo + chunk] = np.packbits(acc, axis=1)
    return out


def field_diffusion(key, name: str, width: int, t: int,  # type: ignore[no-untyped-def]
                    permutation: np.ndarray | None) -> np.ndarray:
    """The diffusion taps of one encoded field under ``key``: keyed with the HKDF subkey
    ``permutation/diffusion/<field>`` (its own subkey, unrelated to the balancing
    permutation's ``permutation/<field>``), avoiding complement pairs when balanced."""
    from .keys import Purpose

    partner = complement_partners(permutation) if permutation is not None else None
    return diffusion_taps(key.derive(Purpose.PERMUTATION, f"diffusion/{name}"), width, t,
                          partner)
