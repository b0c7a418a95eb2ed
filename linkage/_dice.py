"""Hazmat: Dice similarity of Bloom filters for candidate pairs, compiled and numpy twins.

``dice(filters, valid, left, right)`` returns, per pair, ``2|a & b| / (|a| + |b|)`` of the
two records' filters, or NaN where either record's value is missing (the model gives
"missing" its own level, never "disagree"). ``dice_numpy`` is the reference; ``dice`` runs
the numba kernel when numba is importable (the tests hold the two equal).
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
except ImportError:  # pragma: no cover
    AVAILABLE = False
    log.warning("numba is not installed: Dice similarities use the numpy reference")


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


def dice_numpy(filters: np.ndarray, valid: np.ndarray, left: np.ndarray, right: np.ndarray,
               chunk: int = 1 << 18) -> np.ndarray:
    """Reference Dice similarities (float32, NaN where a side is missing)."""
    weight = np.bitwise_count(filters).sum(axis=1, dtype=np.int64)
    out = np.full(len(left), np.nan, dtype=np.float32)
    for lo in range(0, len(left), chunk):
        l, r = left[lo:lo + chunk], right[lo:lo + chunk]
        inter = np.bitwise_count(filters[l] & filters[r]).sum(axis=1, dtype=np.int64)
        total = weight[l] + weight[r]
        ok = valid[l] & valid[r]
        res = np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 1.0)
        out[lo:lo + chunk] = np.where(ok, res, np.nan)
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
    def _dice(filters, valid, left, right):  # type: ignore[no-untyped-def]
        m = len(left)
        words = filters.shape[1]
        out = np.empty(m, np.float32)
        for k in nb.prange(m):
            a, b = left[k], right[k]
            if not (valid[a] and valid[b]):
                out[k] = np.nan
                continue
            inter = np.uint64(0)
            total = np.uint64(0)
            for w in range(words):
                x, y = filters[a, w], filters[b, w]
                inter += _popcount(x & y)
                total += _popcount(x) + _popcount(y)
            out[k] = 2.0 * inter / total if total > 0 else 1.0
        return out


def dice(filters: np.ndarray, valid: np.ndarray, left: np.ndarray, right: np.ndarray
         ) -> np.ndarray:
    """Dice similarities of candidate pairs (float32, NaN where a side is missing).

    Args:
        filters: ``uint64[n, words]`` (see :func:`filter_words`).
        valid: bool[n], False where the record's value is missing.
        left, right: int64 record indices of the pairs.
    """
    if not AVAILABLE:
        return dice_numpy(filters, valid, left, right)
    return _dice(np.ascontiguousarray(filters), valid.astype(np.bool_),
                 left.astype(np.int64), right.astype(np.int64))
