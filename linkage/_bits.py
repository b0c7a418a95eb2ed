"""Hazmat: Hamming distances of filter pairs, a compiled kernel and its numpy twin.

Balanced filters (a filter and its complement, secretly permuted) always have half their
bits set, so the only thing two of them reveal about each other is their Hamming distance:
twice the distance of the underlying filters. ``hamming(filters, valid, left, right)``
returns it per pair, or ``-1`` where either record's value is missing (the model gives
"missing" its own level, never "disagree"). ``hamming_numpy`` is the reference; the numba
kernel runs when numba is importable (the tests hold the two equal).
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa

log = logging.getLogger(__name__)

try:  # pragma: no cover - exercised by the import itself
    import numba as nb

    logging.getLogger("numba").setLevel(logging.WARNING)  # IR dumps at DEBUG: see hashing
    AVAILABLE = True
    njit = nb.njit(cache=True)
    """Compile a plain loop (the linkage side's kernels); without numba it runs as Python."""
except ImportError:  # pragma: no cover
    AVAILABLE = False
    log.warning("numba is not installed: Hamming distances use the numpy reference")

    def njit(f):  # type: ignore[no-untyped-def]
        return f


def filter_words(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A ``fixed_size_binary`` filter column as ``uint64[n, words]`` and its validity."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    width = arr.type.byte_width
    if width % 8:
        raise ValueError("filter width must be a multiple of 64 bits")
    data = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[
        arr.offset * width:(arr.offset + len(arr)) * width]
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    return data.reshape(len(arr), width).view(np.uint64), valid


def hamming_numpy(filters: np.ndarray, valid: np.ndarray, left: np.ndarray,
                  right: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """Reference Hamming distances (int32, -1 where a side is missing)."""
    out = np.empty(len(left), dtype=np.int32)
    for lo in range(0, len(left), chunk):
        l, r = left[lo:lo + chunk], right[lo:lo + chunk]
        h = np.bitwise_count(filters[l] ^ filters[r]).sum(axis=1, dtype=np.int32)
        out[lo:lo + chunk] = np.where(valid[l] & valid[r], h, -1)
    return out


if AVAILABLE:
    @nb.njit(inline="always")
    def _popcount(x):  # type: ignore[no-untyped-def]
        x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
        x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2))
                                                   & np.uint64(0x3333333333333333))
        x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)

    @nb.njit(parallel=True, cache=True)
    def _hamming(filters, valid, left, right):  # type: ignore[no-untyped-def]
        m = len(left)
        words = filters.shape[1]
        out = np.empty(m, np.int32)
        for k in nb.prange(m):
            a, b = left[k], right[k]
            if not (valid[a] and valid[b]):
                out[k] = -1
                continue
            h = np.uint64(0)
            for w in range(words):
                h += _popcount(filters[a, w] ^ filters[b, w])
            out[k] = np.int32(h)
        return out


def hamming(filters: np.ndarray, valid: np.ndarray, left: np.ndarray, right: np.ndarray
            ) -> np.ndarray:
    """Hamming distances of candidate pairs (int32, -1 where a side is missing).

    Args:
        filters: ``uint64[n, words]`` (see :func:`filter_words`).
        valid: bool[n], False where the record's value is missing.
        left, right: int64 record indices of the pairs.
    """
    if not AVAILABLE:
        return hamming_numpy(filters, valid, left, right)
    return _hamming(np.ascontiguousarray(filters), valid.astype(np.bool_),
                    left.astype(np.int64), right.astype(np.int64))
