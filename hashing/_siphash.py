"""Hazmat: SipHash-2-4 (Aumasson & Bernstein, 2012) over numpy uint64 arrays.

A keyed PRF evaluated for many short messages at once: message ``i`` is the sequence of
little-endian 64-bit words ``words[0][i], words[1][i], ...``. Used for blocking tokens,
whose inputs are tuples of component codes. Known-answer tests against the reference
vectors are in ``tests/unit/test_hashing.py``.
"""

from __future__ import annotations

import numpy as np

_U = np.uint64


def _rotl(x: np.ndarray, b: int, tmp: np.ndarray) -> None:
    """x = rotate-left(x, b), in place (tmp is scratch of the same shape)."""
    np.left_shift(x, _U(b), out=tmp)
    np.right_shift(x, _U(64 - b), out=x)
    x |= tmp


def _round(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray, v3: np.ndarray,
           tmp: np.ndarray) -> None:
    """One SipRound, in place."""
    v0 += v1
    _rotl(v1, 13, tmp)
    v1 ^= v0
    _rotl(v0, 32, tmp)
    v2 += v3
    _rotl(v3, 16, tmp)
    v3 ^= v2
    v0 += v3
    _rotl(v3, 21, tmp)
    v3 ^= v0
    v2 += v1
    _rotl(v1, 17, tmp)
    v1 ^= v2
    _rotl(v2, 32, tmp)


def siphash24(key: bytes, words: list[np.ndarray]) -> np.ndarray:
    """SipHash-2-4 of ``len(words) * 8``-byte messages under a 128-bit key.

    Args:
        key: 16 (or more; the first 16 are used) secret bytes.
        words: equally long uint64 arrays; message ``i`` is their ``i``-th elements.

    Returns:
        uint64 array of tags.
    """
    k0 = _U(int.from_bytes(key[:8], "little"))
    k1 = _U(int.from_bytes(key[8:16], "little"))
    n = len(words[0])
    v0 = np.full(n, k0 ^ _U(0x736F6D6570736575), dtype=np.uint64)
    v1 = np.full(n, k1 ^ _U(0x646F72616E646F6D), dtype=np.uint64)
    v2 = np.full(n, k0 ^ _U(0x6C7967656E657261), dtype=np.uint64)
    v3 = np.full(n, k1 ^ _U(0x7465646279746573), dtype=np.uint64)
    tmp = np.empty(n, dtype=np.uint64)
    for m in words:
        m = np.asarray(m, dtype=np.uint64)
        v3 ^= m
        _round(v0, v1, v2, v3, tmp)
        _round(v0, v1, v2, v3, tmp)
        v0 ^= m
    b = _U(((8 * len(words)) & 0xFF) << 56)
    v3 ^= b
    _round(v0, v1, v2, v3, tmp)
    _round(v0, v1, v2, v3, tmp)
    v0 ^= b
    v2 ^= _U(0xFF)
    for _ in range(4):
        _round(v0, v1, v2, v3, tmp)
    v0 ^= v1
    v0 ^= v2
    v0 ^= v3
    return v0


def siphash_bytes(key: bytes, message: bytes) -> int:
    """SipHash-2-4 of one byte string: the reference for the compiled string kernel."""
    full = len(message) // 8
    words = [np.array([int.from_bytes(message[8 * i:8 * i + 8], "little")], dtype=np.uint64)
             for i in range(full)]
    tail = message[8 * full:] + bytes(7 - len(message) % 8) + bytes([len(message) & 0xFF])
    k0 = _U(int.from_bytes(key[:8], "little"))
    k1 = _U(int.from_bytes(key[8:16], "little"))
    v = [np.full(1, k0 ^ _U(0x736F6D6570736575), dtype=np.uint64),
         np.full(1, k1 ^ _U(0x646F72616E646F6D), dtype=np.uint64),
         np.full(1, k0 ^ _U(0x6C7967656E657261), dtype=np.uint64),
         np.full(1, k1 ^ _U(0x7465646279746573), dtype=np.uint64)]
    tmp = np.empty(1, dtype=np.uint64)
    for m in [*words, np.array([int.from_bytes(tail, "little")], dtype=np.uint64)]:
        v[3] ^= m
        _round(*v, tmp)
        _round(*v, tmp)
        v[0] ^= m
    v[2] ^= _U(0xFF)
    for _ in range(4):
        _round(*v, tmp)
    return int((v[0] ^ v[1] ^ v[2] ^ v[3])[0])
