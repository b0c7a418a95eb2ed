"""Hazmat: tokens -> keyed positions -> Bloom filters, by unique value and unique token.

Callers use :func:`hashing.encode_extract`. Here, a field's values are deduplicated first
(names, dates and ZIPs repeat), each distinct value is cut into tokens with numpy, each
distinct token is hashed ONCE with keyed BLAKE2b (the field's HKDF subkey) into ``k``
positions, and the filters of the distinct values are built with one scatter. Records then
gather their value's filter. No Python loop runs per record or per value; the only loop is
over distinct tokens (a few thousand per field and night).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import _kernels

Tokenizer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""Distinct values (object array of str) -> (row of each token, token as bytes object)."""


def _char_matrix(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ASCII strings as a zero-padded uint8 matrix and their lengths."""
    try:
        enc = values.astype("S")            # normalized identifiers are plain ASCII
    except UnicodeEncodeError:
        enc = pd.Series(values, dtype=object).str.encode("ascii", "replace").to_numpy().astype("S")
    width = max(enc.dtype.itemsize, 1)
    mat = np.frombuffer(enc.astype(f"S{width}").tobytes(), dtype=np.uint8).reshape(-1, width)
    return mat, np.char.str_len(enc)


def bigrams(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Padded character bigrams (``_JO``, ``JO``, ..., ``N_``) of each distinct value."""
    if len(values) == 0:
        return np.empty(0, np.int64), np.empty(0, object)
    mat, lengths = _char_matrix(values)
    n, w = mat.shape
    padded = np.zeros((n, w + 2), dtype=np.uint16)
    padded[:, 0] = ord("_")
    padded[:, 1:w + 1] = mat
    padded[np.arange(n), lengths + 1] = ord("_")
    codes = (padded[:, :-1] << 8) | padded[:, 1:]
    valid = np.arange(w + 1)[None, :] <= lengths[:, None]
    rows = np.nonzero(valid)[0]
    return rows, codes[valid].astype(np.int64)


def positional_chars(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each character with its position (``0:2``, ``1:1``, ...): digit-level SSN agreement."""
    if len(values) == 0:
        return np.empty(0, np.int64), np.empty(0, object)
    mat, lengths = _char_matrix(values)
    n, w = mat.shape
    valid = np.arange(w)[None, :] < lengths[:, None]
    codes = (np.arange(w, dtype=np.int64)[None, :] << 8) | mat.astype(np.int64)
    rows = np.nonzero(valid)[0]
    return rows, codes[valid] + (1 << 20)          # disjoint from bigram codes


def words(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Space-separated words of each distinct value, as whole tokens (Arrow's splitter)."""
    lists = pc.split_pattern(pa.array(values, type=pa.string()), " ")
    rows = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
    flat = pc.list_flatten(lists)
    keep = pc.greater(pc.utf8_length(flat), 0)
    return rows[keep.to_numpy(zero_copy_only=False)], \
        flat.filter(keep).to_numpy(zero_copy_only=False)


def dob_parts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``YYYYMMDD`` -> year, month, day and the unordered month/day pair, so that a swapped
    day and month still agree on two of four tokens and a wrong year on three."""
    s = pd.Series(values, dtype=object).astype(str)
    y, m, d = s.str[:4], s.str[4:6], s.str[6:8]
    pair = np.where(m <= d, m + d, d + m)
    parts = [("Y" + y).to_numpy(), ("M" + m).to_numpy(), ("D" + d).to_numpy(),
             ("P" + pd.Series(pair)).to_numpy()]
    n = len(values)
    rows = np.tile(np.arange(n, dtype=np.int64), len(parts))
    return rows, np.concatenate(parts).astype(object)


YEAR_WINDOW = 12
"""Years either side of the birth year that :func:`year_window` sets: two windows ``k``
years apart differ in ``2 k`` tokens up to ``2 (2 W + 1)``, so the linkage side reads how
many years apart two birth years are (a typo or another generation) without the year."""


def year_window(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``YYYY`` -> the years from ``YYYY - W`` to ``YYYY + W`` (:data:`YEAR_WINDOW`)."""
    years = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy()
    ok = np.flatnonzero(~np.isnan(years))
    span = np.arange(-YEAR_WINDOW, YEAR_WINDOW + 1)
    window = (years[ok, None].astype(np.int64) + span[None, :]).ravel()
    rows = np.repeat(ok.astype(np.int64), len(span))
    return rows, np.char.add("W", window.astype(str)).astype(object)


def zip_parts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ZIP5 and its 3-digit sectional centre: a near-miss ZIP still half agrees."""
    s = pd.Series(values, dtype=object).astype(str)
    n = len(values)
    rows = np.tile(np.arange(n, dtype=np.int64), 2)
    return rows, np.concatenate([("Z" + s).to_numpy(), ("S" + s.str[:3]).to_numpy()]
                                ).astype(object)


TOKENIZERS: dict[str, Tokenizer] = {
    "bigrams": bigrams, "positional": positional_chars, "words": words, "dob": dob_parts,
    "zip": zip_parts, "year_window": year_window,
}


def _token_bytes(token: object) -> bytes:
    if isinstance(token, (int, np.integer)):
        code = int(token)
        if code >= 1 << 20:                         # positional char
            code -= 1 << 20
            return b"p%d:%c" % (code >> 8, code & 0xFF)
        return bytes([code >> 8, code & 0xFF])       # bigram
    return str(token).encode("utf-8")


_POSITIONS: dict[tuple[bytes, int, int], dict[object, np.ndarray]] = {}


def token_positions(tokens: np.ndarray, subkey: bytes, bits: int, hashes: int) -> np.ndarray:
    """``hashes`` positions in ``[0, bits)`` per distinct token: keyed BLAKE2b (the subkey is
    the field's HKDF output), read as 16-bit words. ``bits`` is a power of two, so the
    reduction has no modulo bias. Each token is hashed once per process and key (the three
    agencies of a single-site night share most tokens)."""
    cache = _POSITIONS.setdefault((subkey, bits, hashes), {})
    out = np.empty((len(tokens), hashes), dtype=np.int64)
    for i, t in enumerate(tokens):
        row = cache.get(t)
        if row is None:
            digest = hashlib.blake2b(_token_bytes(t), key=subkey, digest_size=2 * hashes,
                                     person=b"sst-bloom-v1").digest()
            row = cache[t] = np.frombuffer(digest, dtype="<u2") & (bits - 1)
        out[i] = row
    return out


def _token_filters(positions: np.ndarray, width: int, permutation: np.ndarray | None,
                   offset: int) -> np.ndarray:
    """Packed filter of each distinct token alone: its positions (shifted by ``offset``,
    then through the balancing permutation if any) set in a ``width``-bit filter."""
    t, k = positions.shape
    bits = np.zeros((t, width), dtype=np.uint8)
    cols = positions.ravel() + offset
    bits[np.repeat(np.arange(t), k), cols if permutation is None else permutation[cols]] = 1
    return np.packbits(bits, axis=1)


def build_filters(values: np.ndarray, tokenizer: Tokenizer, subkey: bytes, bits: int,
                  hashes: int, permutation: np.ndarray | None = None,
                  chunk_tokens: int = 1 << 20) -> np.ndarray:
    """Bloom filters of distinct values, packed: ``uint8[len(values), bits // 8]``, or
    balanced (``2 * bits`` long) when a secret ``permutation`` of ``range(2 * bits)`` is given.

    A value's filter is the OR of its tokens' filters, each token's filter computed once;
    the OR runs as ``np.bitwise_or.reduceat`` over packed bytes, in chunks. Balancing
    (:func:`hashing._hardening.balance` is the reference) appends the complement and
    shuffles: plain bit ``j`` lands at ``permutation[j]`` and its complement at
    ``permutation[bits + j]``, so the balanced filter is ``A | (T & ~B)`` with ``A`` and
    ``B`` the ORs of the tokens' first- and second-half images and ``T`` the image of an
    all-ones second half.

    Args:
        values: distinct non-missing values (object array of str).
        tokenizer: one of :data:`TOKENIZERS`.
        subkey: the field's secret subkey.
        bits: filter length, a power of two >= 8.
        hashes: positions per token.
        permutation: balancing permutation, or None for plain filters.
        chunk_tokens: tokens ORed per step (bounds memory).
    """
    n = len(values)
    width = bits if permutation is None else 2 * bits
    out = np.zeros((n, width // 8), dtype=np.uint8)
    if n == 0:
        return out
    rows, tokens = tokenizer(values)
    order = np.argsort(rows, kind="stable")
    rows, tokens = rows[order], tokens[order]
    token_ids, distinct = pd.factorize(tokens, sort=False)   # int codes stay numeric
    positions = token_positions(np.asarray(distinct, dtype=object), subkey, bits, hashes)
    images = [_token_filters(positions, width, permutation, 0)]
    if permutation is not None:
        images.append(_token_filters(positions, width, permutation, bits))
        template = np.zeros(width, dtype=np.uint8)
        template[permutation[bits:]] = 1
        template = np.packbits(template)
        out[:] = template                      # a value without tokens: all complement bits
    # OR whole machine words rather than bytes: same bits, a fraction of the element count.
    word = next(w for w in (np.uint64, np.uint32, np.uint16, np.uint8)
                if (width // 8) % np.dtype(w).itemsize == 0)
    images = [np.ascontiguousarray(im).view(word) for im in images]
    out_words = out.view(word)
    template_words = template.view(word) if permutation is not None else None
    starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
    bounds = np.concatenate([starts, [len(rows)]])
    if _kernels.AVAILABLE and word is np.uint64:     # compiled twin of the loop below
        return _kernels.or_filters(bounds, rows, token_ids, images[0],
                                   images[1] if permutation is not None else None,
                                   template_words, n).view(np.uint8)
    first = 0
    while first < len(starts):
        last = min(len(starts), first + max(1, int(np.searchsorted(
            bounds, bounds[first] + chunk_tokens, side="right")) - first - 1))
        lo, hi = bounds[first], bounds[last]
        seg = starts[first:last] - lo
        ids = token_ids[lo:hi]
        target = rows[starts[first:last]]
        a = np.bitwise_or.reduceat(images[0][ids], seg, axis=0)
        if permutation is None:
            out_words[target] = a
        else:
            b = np.bitwise_or.reduceat(images[1][ids], seg, axis=0)
            out_words[target] = a | (template_words & ~b)
        first = last
    return out
