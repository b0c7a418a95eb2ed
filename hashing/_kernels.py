"""Hazmat: compiled (numba) kernels of the encoder's hot loops, each with a numpy twin.

Each function here has the same signature and result as its numpy reference:

====================  ==============================================
kernel                numpy reference
====================  ==============================================
``siphash24_rows``    :func:`hashing._siphash.siphash24`
``or_filters``        the reduceat path of :func:`hashing._bloom.build_filters`
``gather_flip``       gather + :func:`hashing._hardening.flip_bits`
====================  ==============================================

``tests/unit/test_hashing.py`` holds each pair equal. If numba cannot be imported the
numpy paths run and a warning is logged once (the encoder is then several times slower).
Kernels are compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

try:  # pragma: no cover - exercised by the import itself
    import numba as nb

    # numba's compiler logs bytecode and IR dumps at DEBUG on every first compile (a fresh
    # cache, as in CI). They are noise in a steward's log, and IR words such as "branch"
    # are also surnames, which the log PII scan would rightly flag.
    logging.getLogger("numba").setLevel(logging.WARNING)
    AVAILABLE = True
except ImportError:  # pragma: no cover - only without the pinned environment
    AVAILABLE = False
    log.warning("numba is not installed: the encoder runs its numpy reference kernels, "
                "several times slower; install the pinned requirements.lock")

if AVAILABLE:
    _G = np.uint64(0x9E3779B97F4A7C15)
    _M1 = np.uint64(0xBF58476D1CE4E5B9)
    _M2 = np.uint64(0x94D049BB133111EB)

    @nb.njit(inline="always")
    def _rotl(x, b):  # type: ignore[no-untyped-def]
        return (x << np.uint64(b)) | (x >> np.uint64(64 - b))

    @nb.njit(inline="always")
    def _sipround(v0, v1, v2, v3):  # type: ignore[no-untyped-def]
        v0 += v1
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 += v3
        v3 = _rotl(v3, 16) ^ v2
        v0 += v3
        v3 = _rotl(v3, 21) ^ v0
        v2 += v1
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)
        return v0, v1, v2, v3

    @nb.njit(inline="always")
    def _sip_init(k0, k1):  # type: ignore[no-untyped-def]
        return (k0 ^ np.uint64(0x736F6D6570736575), k1 ^ np.uint64(0x646F72616E646F6D),
                k0 ^ np.uint64(0x6C7967656E657261), k1 ^ np.uint64(0x7465646279746573))

    @nb.njit(inline="always")
    def _sip_block(v0, v1, v2, v3, m):  # type: ignore[no-untyped-def]
        v3 ^= m
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        return v0 ^ m, v1, v2, v3

    @nb.njit(inline="always")
    def _sip_final(v0, v1, v2, v3):  # type: ignore[no-untyped-def]
        v2 ^= np.uint64(0xFF)
        for _ in range(4):
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        return v0 ^ v1 ^ v2 ^ v3

    @nb.njit(parallel=True, cache=True)
    def _siphash_rows(k0, k1, words):  # type: ignore[no-untyped-def]
        w = len(words)
        n = len(words[0])
        out = np.empty(n, np.uint64)
        last = np.uint64((8 * w) & 0xFF) << np.uint64(56)
        for i in nb.prange(n):
            v0, v1, v2, v3 = _sip_init(k0, k1)
            for j in range(w):
                v0, v1, v2, v3 = _sip_block(v0, v1, v2, v3, words[j][i])
            v0, v1, v2, v3 = _sip_block(v0, v1, v2, v3, last)
            out[i] = _sip_final(v0, v1, v2, v3)
        return out

    @nb.njit(parallel=True, cache=True)
    def _siphash_bytes(k0, k1, offsets, data):  # type: ignore[no-untyped-def]
        n = len(offsets) - 1
        out = np.empty(n, np.uint64)
        for i in nb.prange(n):
            start = offsets[i]
            length = offsets[i + 1] - start
            v0, v1, v2, v3 = _sip_init(k0, k1)
            full = length // 8
            for blk in range(full + 1):
                m = np.uint64(0)
                if blk < full:
                    for j in range(8):
                        m |= np.uint64(data[start + 8 * blk + j]) << np.uint64(8 * j)
                else:
                    for j in range(length - 8 * full):
                        m |= np.uint64(data[start + 8 * full + j]) << np.uint64(8 * j)
                    m |= np.uint64(length & 0xFF) << np.uint64(56)
                v0, v1, v2, v3 = _sip_block(v0, v1, v2, v3, m)
            out[i] = _sip_final(v0, v1, v2, v3)
        return out

    @nb.njit(parallel=True, cache=True)
    def _or_rows(starts, rows, token_ids, image, n_values):  # type: ignore[no-untyped-def]
        width = image.shape[1]
        out = np.zeros((n_values, width), np.uint64)
        for g in nb.prange(len(starts) - 1):
            v = rows[starts[g]]
            for t in range(starts[g], starts[g + 1]):
                tok = token_ids[t]
                for w in range(width):
                    out[v, w] |= image[tok, w]
        return out

    @nb.njit(parallel=True, cache=True)
    def _gather_flip(codes, filters, seeds, n_flips):  # type: ignore[no-untyped-def]
        n = len(codes)
        nbytes = filters.shape[1]
        nbits = np.uint64(nbytes * 8)
        out = np.zeros((n, nbytes), np.uint8)
        k = 0
        index = np.empty(n, np.int64)
        for i in range(n):                  # position of record i among the valid ones
            index[i] = k
            if codes[i] >= 0:
                k += 1
        for i in nb.prange(n):
            c = codes[i]
            if c < 0:
                continue
            out[i, :] = filters[c, :]
            state = seeds[index[i]]
            for _ in range(n_flips):
                z = state + _G
                z = (z ^ (z >> np.uint64(30))) * _M1
                z = (z ^ (z >> np.uint64(27))) * _M2
                state = z ^ (z >> np.uint64(31))
                pos = state % nbits
                out[i, pos >> np.uint64(3)] ^= np.uint8(0x80) >> np.uint8(pos & np.uint64(7))
        return out


def siphash24_rows(key: bytes, words: list[np.ndarray]) -> np.ndarray:
    """Compiled SipHash-2-4 of tuples of uint64 words (see :func:`_siphash.siphash24`)."""
    from ._siphash import siphash24

    if not AVAILABLE or not len(words[0]):
        return siphash24(key, words)
    k0 = np.uint64(int.from_bytes(key[:8], "little"))
    k1 = np.uint64(int.from_bytes(key[8:16], "little"))
    return _siphash_rows(k0, k1, tuple(np.ascontiguousarray(w, dtype=np.uint64)
                                       for w in words))


def siphash_strings(key: bytes, values) -> np.ndarray:  # type: ignore[no-untyped-def]
    """SipHash-2-4 of each string's UTF-8 bytes (null as empty) under a 128-bit key: the
    standard algorithm over variable-length messages, read straight from Arrow buffers.

    Args:
        key: 16 (or more; the first 16 are used) secret bytes.
        values: a pyarrow string array (or anything ``pa.array`` turns into one).
    """
    import pyarrow as pa

    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string(),
                                                               from_pandas=True)
    arr = arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr
    if arr.offset or arr.null_count:
        arr = pa.concat_arrays([arr.fill_null("")])
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[:len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if arr.buffers()[2] is not None \
        else np.zeros(1, np.uint8)
    if not AVAILABLE:
        return _siphash_strings_numpy(key, offsets, data)
    k0 = np.uint64(int.from_bytes(key[:8], "little"))
    k1 = np.uint64(int.from_bytes(key[8:16], "little"))
    return _siphash_bytes(k0, k1, offsets, data)


def _siphash_strings_numpy(key: bytes, offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Reference: messages padded into words, then :func:`_siphash.siphash24` per length."""
    from ._siphash import siphash_bytes

    raw = data.tobytes()
    return np.array([siphash_bytes(key, raw[offsets[i]:offsets[i + 1]])
                     for i in range(len(offsets) - 1)], dtype=np.uint64)


def or_filters(starts: np.ndarray, rows: np.ndarray, token_ids: np.ndarray,
               image_a: np.ndarray, image_b: np.ndarray | None, template: np.ndarray | None,
               n_values: int) -> np.ndarray:
    """OR the token images of each value: ``uint64[n_values, words]`` (balanced if
    ``image_b`` is given: ``A | (T & ~B)``). ``starts`` bound each value's run of tokens
    (with a final end), ``rows[starts[g]]`` is the value of run ``g``."""
    args = (starts.astype(np.int64), rows.astype(np.int64), token_ids.astype(np.int64))
    a = _or_rows(*args, image_a, n_values)
    if image_b is None:
        return a
    b = _or_rows(*args, image_b, n_values)
    return a | (template & ~b)


def gather_flip(codes: np.ndarray, filters: np.ndarray, seeds: np.ndarray | None,
                n_flips: int) -> np.ndarray:
    """Rows of ``filters`` by ``codes`` (zeros where -1), each valid row then flipped at
    ``n_flips`` keyed positions from its seed (``seeds`` has one per valid row)."""
    if seeds is None or n_flips <= 0:
        seeds, n_flips = np.zeros(int((codes >= 0).sum()), np.uint64), 0
    return _gather_flip(codes.astype(np.int64), np.ascontiguousarray(filters),
                        seeds.astype(np.uint64), int(n_flips))
