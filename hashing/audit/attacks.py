"""The attacks: what the linkage side could learn from the encoded files alone.

Every function here takes what the attacker holds (filters, blocking tokens, candidate
pairs, the encoding settings the files declare, a reference population) and returns
*guesses*: per record, the index of a reference value, or -1. None reads a key or a
plaintext value; :mod:`hashing.audit` scores the guesses.

* :func:`frequency_guesses`: group records by identical filters (*exact*) or by identical
  samples of a few bit positions (*denoising*, robust to record-level flips), rank the
  groups by size and give the i-th group the i-th most common reference value.
* :func:`token_frequency`: the same on blocking tokens, which are deterministic.
* :func:`value_attacks`: the filters of frequent values recovered from groups of
  records (:func:`value_pool`), then three attacks on them: records clustered around them
  and counted (a denoising frequency attack); their similarity graph matched with the
  reference values' (graph matching after Vidanage, Christen, Ranbaduge and Schnell, CIKM
  2020: :func:`structure_alignment`); and, from that alignment, the bit positions of each
  token (q-gram, word, date part), every filter read back into its tokens and matched
  with the reference values' token sets (pattern mining after Christen, Ranbaduge,
  Vatsalan and Schnell, IEEE TKDE 2019). Unlike the frequency attack, pattern mining
  re-identifies values that are not frequent, once their tokens are known.
* :func:`graph_matching`: the candidate pairs the linkage side computes, weighted by the
  Dice similarity of a field's filters, against the same pairs in a plaintext copy of the
  population weighted by the values' token Dice; each record's neighbourhood (how many
  neighbours at each similarity) is its signature, matched across the two graphs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage._bits import njit

from .reference import Reference

_BIT = np.array([128, 64, 32, 16, 8, 4, 2, 1], dtype=np.uint8)


def filter_bytes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A ``fixed_size_binary`` filter column as ``uint8[n, bytes]`` and its validity."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    width = arr.type.byte_width
    data = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[
        arr.offset * width:(arr.offset + len(arr)) * width]
    return data.reshape(len(arr), width), arr.is_valid().to_numpy(zero_copy_only=False)


def sample_keys(packed: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """A uint64 key per row from the bits at ``positions`` (at most 64)."""
    key = np.zeros(len(packed), np.uint64)
    for i, p in enumerate(positions):
        bit = (packed[:, p >> 3] & _BIT[p & 7]) != 0
        key |= bit.astype(np.uint64) << np.uint64(i)
    return key


def row_keys(packed: np.ndarray) -> np.ndarray:
    """A 64-bit key per whole row (equal rows, equal keys; others collide with
    probability 2^-64)."""
    pad = (-packed.shape[1]) % 8
    words = np.ascontiguousarray(np.pad(packed, ((0, 0), (0, pad)))).view(np.uint64)
    key = np.zeros(len(words), np.uint64)
    with np.errstate(over="ignore"):
        for w in words.T:
            key = (key ^ w) * np.uint64(0x100000001B3) + np.uint64(0x9E3779B97F4A7C15)
    return key


def rank_groups(keys: np.ndarray, rng: np.random.Generator, min_size: int = 2
                ) -> tuple[np.ndarray, np.ndarray]:
    """Group rows by key and rank the groups by size (ties at random).

    Returns:
        Per row its group's rank (-1 for groups under ``min_size``), and the group sizes
        by rank.
    """
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    order = np.lexsort((rng.random(len(counts)), -counts))
    rank = np.empty(len(counts), np.int64)
    rank[order] = np.arange(len(counts))
    per_row = rank[inverse]
    per_row[counts[inverse] < min_size] = -1
    sizes = counts[order]
    return per_row, sizes[sizes >= min_size]


def align(ranks: np.ndarray, reference: Reference) -> np.ndarray:
    """Guess the i-th most common reference value for the i-th largest group."""
    return np.where((ranks >= 0) & (ranks < len(reference)), ranks, -1)


DENOISING_WIDTHS = (8, 12, 16, 24, 32)


def frequency_guesses(packed: np.ndarray, reference: Reference, rng: np.random.Generator,
                      samples: int = 5, widths: tuple[int, ...] = DENOISING_WIDTHS
                      ) -> dict[str, list[np.ndarray]]:
    """Guesses of the exact and the denoising frequency attack (one per bit sample).

    Args:
        packed: the filters of the records with a value, ``uint8[n, bytes]``.
        reference: the ranking the attacker aligns group sizes with.
        samples: bit samples drawn per width.
        widths: sample widths in bits.

    Returns:
        ``{"exact": [guess], "denoising": [guess per sample]}``.
    """
    exact = align(rank_groups(row_keys(packed), rng)[0], reference)
    nbits = packed.shape[1] * 8
    denoising = []
    for width in widths:
        for _ in range(samples):
            cols = rng.choice(nbits, min(width, nbits), replace=False)
            denoising.append(align(rank_groups(sample_keys(packed, cols), rng)[0], reference))
    return {"exact": [exact], "denoising": denoising}


def token_frequency(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, float, int]:
    """Frequency attack on one rule's blocking tokens, given the night's own distribution of
    what the tokens stand for (a token is a deterministic keyed hash, so that distribution
    is the tokens' own: the attacker names token ``t`` right when no other token has its
    count, and with probability ``1/m`` when ``m`` tokens share it).

    Returns:
        Per record the probability that the attacker names one of its tokens right, counting
        only tokens named right at least half the time (``m <= 2``); the expected number of
        tokens named right that way; and the number of distinct tokens.
    """
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    rec = pc.list_parent_indices(arr).to_numpy().astype(np.int64)
    tok = pc.list_flatten(arr).to_numpy()
    n = len(arr)
    if len(tok) == 0:
        return np.zeros(n), 0.0, 0
    pairs = pd.DataFrame({"rec": rec, "tok": tok}).drop_duplicates()
    codes, distinct = pd.factorize(pairs["tok"])
    counts = np.bincount(codes)
    ties = np.bincount(counts)[counts]           # tokens sharing each token's count
    p_token = np.where(ties <= 2, 1.0 / ties, 0.0)
    miss = pd.Series(np.log1p(-np.minimum(p_token[codes], 1 - 1e-12))).groupby(
        pairs["rec"].to_numpy()).sum()
    p_record = np.zeros(n)
    p_record[miss.index.to_numpy()] = -np.expm1(miss.to_numpy())
    p_record[p_record > 1 - 1e-9] = 1.0
    return p_record, float(p_token.sum()), len(distinct)


# ---------------------------------------------------------------- pattern mining

def unpack(packed: np.ndarray) -> np.ndarray:
    """Bits of packed rows as float32 0/1 (for the few rows the matrix steps need)."""
    return np.unpackbits(packed, axis=1).astype(np.float32)


def token_sets(values: np.ndarray, tokenizer: Callable) -> tuple[np.ndarray, np.ndarray]:
    """Rows and token codes of the values' tokens (the encoder's own tokenizer: the
    scheme is public, only the key is secret), tokens numbered from 0."""
    rows, tokens = tokenizer(np.asarray(values, dtype=object))
    codes, distinct = pd.factorize(pd.Series(tokens, dtype=object), sort=False)
    keep = codes >= 0
    return np.stack([rows[keep], codes[keep]]), distinct


def _incidence(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, np.float32)
    out[rows, cols] = 1.0
    return out


def hamming_to(packed: np.ndarray, centres: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Hamming distance of every row to every centre (``int32[rows, centres]``)."""
    c = unpack(centres)
    oc = c.sum(axis=1)
    out = np.empty((len(packed), len(centres)), np.int32)
    for lo in range(0, len(packed), chunk):
        b = unpack(packed[lo:lo + chunk])
        inter = b @ c.T
        out[lo:lo + chunk] = (b.sum(axis=1)[:, None] + oc[None, :] - 2 * inter).astype(np.int32)
    return out


def value_pool(packed: np.ndarray, rng: np.random.Generator, flip_fraction: float = 0.0, *,
               samples: int = 3, top_groups: int = 300, group_cap: int = 40,
               min_sharp: float = 0.8) -> np.ndarray:
    """Filters of frequent values, recovered from the encoded file alone.

    The records are grouped by identical filters and by identical samples of a few bits
    (``samples`` per width; the widths are chosen so that about a third of a value's
    records keep a sample unflipped at the declared ``flip_fraction``); the
    ``top_groups`` largest groups of each grouping give a consensus filter (per-bit
    majority of up to ``group_cap`` records: the flips average out). Consensus filters of
    mixed groups (more than ``1 - min_sharp`` of their bits further than the flip rate
    plus 0.15 from 0 or 1) are dropped, and near-identical ones (within 2 % of the bits)
    merged. Returns the distinct filters, packed, largest groups first.
    """
    nbits = packed.shape[1] * 8
    if flip_fraction > 0:
        w = int(np.clip(round(np.log(0.35) / np.log1p(-flip_fraction)), 6, 20))
        widths = (w, w + 6)
    else:
        widths = (16, 24)
    groupings = [row_keys(packed)] + [
        sample_keys(packed, rng.choice(nbits, min(w, nbits), replace=False))
        for w in widths for _ in range(samples)]
    band = flip_fraction + 0.15
    found, weights = [], []
    for keys in groupings:
        ranks, sizes = rank_groups(keys, rng, min_size=3)
        k = min(top_groups, len(sizes))
        if k == 0:
            continue
        member = np.flatnonzero((ranks >= 0) & (ranks < k))
        member = member[np.argsort(ranks[member], kind="stable")]
        r = ranks[member]
        keep = (np.arange(len(r)) - np.searchsorted(r, r)) < group_cap
        mean = np.zeros((k, nbits), np.float32)
        np.add.at(mean, r[keep], unpack(packed[member[keep]]))
        mean /= np.maximum(np.bincount(r[keep], minlength=k), 1)[:, None]
        sharp = ((mean <= band) | (mean >= 1 - band)).mean(axis=1) >= min_sharp
        found.append(np.packbits(mean[sharp] >= 0.5, axis=1))
        weights.append(sizes[:k][sharp])
    if not found:
        return np.empty((0, packed.shape[1]), np.uint8)
    pool = np.concatenate(found)
    pool = pool[np.argsort(-np.concatenate(weights), kind="stable")]
    _, first = np.unique(row_keys(pool), return_index=True)
    pool = pool[np.sort(first)]
    dist = hamming_to(pool, pool)
    near = max(2, int(0.02 * nbits))
    keep = np.ones(len(pool), bool)
    for i in range(len(pool)):
        if keep[i]:
            dup = np.flatnonzero(dist[i, i + 1:] <= near) + i + 1
            keep[dup] = False
    return pool[keep]


def cluster_counts(sample: np.ndarray, pool: np.ndarray, radius: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each sampled record's nearest pool filter within ``radius`` bits (-1: none), and
    how many sampled records each pool filter holds."""
    if len(pool) == 0:
        return np.full(len(sample), -1, np.int64), np.zeros(0, np.int64)
    dist = hamming_to(sample, pool)
    near = dist.argmin(axis=1)
    near = np.where(dist[np.arange(len(sample)), near] <= radius, near, -1)
    return near, np.bincount(near[near >= 0], minlength=len(pool))


def _dice_matrix(a: np.ndarray) -> np.ndarray:
    """Dice similarity of every pair of rows of a 0/1 float matrix."""
    size = a.sum(axis=1)
    return 2 * (a @ a.T) / np.maximum(size[:, None] + size[None, :], 1)


@njit
def _l1_cost(obs, ref, outside):  # type: ignore[no-untyped-def]
    """Mean absolute difference of each observed profile (row of ``obs``) from each
    reference profile (row of ``ref``); a large cost outside the allowed window."""
    n, a = obs.shape
    r = ref.shape[0]
    out = np.empty((n, r), np.float32)
    for i in range(n):
        for v in range(r):
            if outside[i, v]:
                out[i, v] = 10.0
                continue
            acc = 0.0
            for j in range(a):
                acc += abs(obs[i, j] - ref[v, j])
            out[i, v] = acc / a
    return out


def predicted_dice(value_tokens: np.ndarray, bits: int, hashes: int, balanced: bool
                   ) -> np.ndarray:
    """The Dice similarity the encoder would give the filters of every pair of values,
    from their token sets alone: a filter of ``t`` tokens sets about
    ``bits (1 - (1 - 1/bits)^(hashes t))`` bits (the files declare ``bits`` and
    ``hashes``; a balanced filter's Hamming distance is twice the plain one's)."""
    size = value_tokens.sum(axis=1)
    union = size[:, None] + size[None, :] - value_tokens @ value_tokens.T

    def filled(x: np.ndarray) -> np.ndarray:
        return bits * (1 - (1 - 1 / bits) ** (hashes * x))

    own, both = filled(size), filled(union)
    if balanced:
        return (1 - (2 * both - own[:, None] - own[None, :]) / bits).astype(np.float32)
    total = own[:, None] + own[None, :]
    return (2 * (total - both) / np.maximum(total, 1e-9)).astype(np.float32)


def structure_alignment(pool: np.ndarray, ranks: np.ndarray, value_tokens: np.ndarray,
                        bits: int, hashes: int, balanced: bool, *, rounds: int = 30,
                        spread: float = 3.0, anchors: int = 1000,
                        sim_ref: np.ndarray | None = None) -> np.ndarray:
    """Graph matching of the recovered filters with the reference values (after Vidanage
    et al.): the similarity graph of the pool's filters (Dice) against the reference
    values' (the Dice their filters would have: :func:`predicted_dice`). Starting from
    the frequency ranks, each round assigns the filters to values one to one (Hungarian)
    so that each filter's similarities to the ``anchors`` most frequent filters best
    match its value's similarities to their values (least squares), within a window of
    ranks around its
    frequency rank (``rank / spread`` to ``rank * spread``).

    ``sim_ref``: the values' predicted similarities, when already computed (restarts).

    Returns:
        The reference index of each pool filter.
    """
    from scipy.optimize import linear_sum_assignment

    n, r = len(pool), len(value_tokens)
    if n < 3 or r < 3:
        return np.minimum(ranks, r - 1), np.inf
    if sim_ref is None:
        sim_ref = predicted_dice(value_tokens, bits, hashes, balanced)
    sim_obs = _dice_matrix(unpack(pool))
    lo = np.maximum(np.floor(ranks / spread).astype(np.int64) - 5, 0)
    hi = np.minimum(np.ceil(ranks * spread).astype(np.int64) + 6, r)
    cols = np.arange(r)
    outside = (cols[None, :] < lo[:, None]) | (cols[None, :] >= hi[:, None])
    pi = np.minimum(ranks, r - 1)
    top = np.argsort(ranks, kind="stable")[:anchors]
    obs = np.ascontiguousarray(sim_obs[:, top], dtype=np.float32)
    for _ in range(rounds):
        ref_cols = np.ascontiguousarray(sim_ref[:, pi[top]], dtype=np.float32)
        cost = _l1_cost(obs, ref_cols, outside)
        rows, got = linear_sum_assignment(cost)
        new = pi.copy()
        new[rows] = got
        if (new == pi).all():
            break
        pi = new
    return pi, float(cost[np.arange(n), pi].mean())


def _learn(aligned: np.ndarray, consensus: np.ndarray, value_tokens: np.ndarray,
           hashes: int, balanced: bool, min_strength: float = 0.2
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bit positions of each token from filters aligned with values: the positions set
    (and, balanced, cleared) most often where the token is in the aligned value compared
    with where it is not.

    Returns:
        The tokens learnt (indices into the vocabulary) and, per token learnt, its
        ``hashes`` positions set and (balanced) cleared when it is present.
    """
    z = value_tokens[aligned]
    n_in = z.sum(axis=0)
    learnable = np.flatnonzero((n_in >= 2) & (len(aligned) - n_in >= 2))
    empty = np.empty((0, hashes), np.int64)
    if len(learnable) == 0:
        return learnable, empty, empty
    z = z[:, learnable]
    diff = (z.T @ consensus) / z.sum(axis=0)[:, None] - \
        ((1 - z).T @ consensus) / (1 - z).sum(axis=0)[:, None]
    ones = np.argsort(-diff, axis=1)[:, :hashes]
    strength = np.take_along_axis(diff, ones, axis=1).mean(axis=1)
    zeros = np.argsort(diff, axis=1)[:, :hashes] if balanced else empty
    if balanced:
        strength = (strength - np.take_along_axis(diff, zeros, axis=1).mean(axis=1)) / 2
    good = strength >= min_strength
    return learnable[good], ones[good], zeros[good] if balanced else empty


class _Reader:
    """Reads filters back into the learnt tokens and matches them with reference values."""

    def __init__(self, nbits: int, ones: np.ndarray, zeros: np.ndarray,
                 candidate_tokens: np.ndarray, min_agreement: float, min_dice: float) -> None:
        q = len(ones)
        self.w1 = np.zeros((nbits, q), np.float32)
        self.w1[ones.ravel(), np.repeat(np.arange(q), ones.shape[1])] = 1.0
        self.w0 = np.zeros((nbits, q), np.float32)
        if zeros.size:
            self.w0[zeros.ravel(), np.repeat(np.arange(q), zeros.shape[1])] = 1.0
        self.npos = self.w1.sum(axis=0) + self.w0.sum(axis=0)
        self.cand = candidate_tokens
        self.size_c = candidate_tokens.sum(axis=1)
        self.min_agreement, self.min_dice = min_agreement, min_dice

    def tokens(self, bits: np.ndarray) -> np.ndarray:
        """Learnt tokens held by each filter (bits as float 0/1)."""
        agree = (bits @ self.w1 + (1 - bits) @ self.w0) / self.npos
        return (agree >= self.min_agreement).astype(np.float32)

    def match(self, held: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Best reference value by Dice on learnt tokens (-1 under ``min_dice`` or with
        fewer than two tokens read; the more common value on a tie)."""
        size_r = held.sum(axis=1)
        out = np.full(len(held), -1, np.int64)
        for lo in range(0, len(held), chunk):
            h = held[lo:lo + chunk]
            dice = 2 * (h @ self.cand.T) / np.maximum(size_r[lo:lo + chunk, None]
                                                      + self.size_c[None, :], 1)
            best = dice.argmax(axis=1)
            ok = (dice[np.arange(len(best)), best] >= self.min_dice) & \
                (size_r[lo:lo + chunk] >= 2)
            out[lo:lo + chunk] = np.where(ok, best, -1)
        return out


def value_attacks(packed: np.ndarray, reference: Reference, tokenizer: Callable,
                  hashes: int, balanced: bool, flip_fraction: float,
                  rng: np.random.Generator, targets: np.ndarray, *, candidates: int = 5000,
                  max_pool: int = 500, graph_values: int = 1000, restarts: int = 4,
                  min_agreement: float = 0.0, min_dice: float = 0.8,
                  alignment: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """The attacks that first recover the filters of frequent values; guesses for the
    records ``targets`` (indices into ``packed``), by name:

    * ``clusters`` (a denoising frequency attack): the frequent values' filters
      (:func:`value_pool`); each target record goes to the nearest one within the flips'
      reach (the files declare the flip rate), the filters are ranked by how many
      records they hold and aligned with the reference ranking;
    * ``graph_values`` (graph matching, Vidanage et al.): the same filters aligned with
      the reference values by the structure of their similarity graphs
      (:func:`structure_alignment`, from the frequency ranks and ``restarts - 1`` jittered
      ones, keeping the alignment whose similarities fit best);
    * ``pattern_mining`` (Christen et al.): from the filters so aligned, the bit positions
      of each token (q-gram, word, date part; :func:`_learn`); every target filter is read
      back into the tokens it holds (``min_agreement`` of a token's positions agree; by
      default what the declared flip rate leaves of a token held, at most 0.85) and
      matched with the token sets of the ``candidates`` most common reference values
      (Dice of at least ``min_dice`` on learnt tokens, the more common value on a tie):
      values that are not frequent are re-identified too.

    ``alignment``: keyword arguments of :func:`structure_alignment` (``rounds``,
    ``anchors``; the run's audit stage makes it smaller).
    """
    nbits = packed.shape[1] * 8
    plain_bits = nbits // 2 if balanced else nbits
    none = np.full(len(targets), -1, np.int64)
    out = {"clusters": none, "graph_values": none, "pattern_mining": none}
    if len(packed) == 0 or len(targets) == 0:
        return out
    pool = value_pool(packed, rng, flip_fraction)[:max_pool]
    if len(pool) < 3:
        return out
    sample = packed[targets]
    flips = int(round(flip_fraction * nbits))
    radius = int(1.6 * flips) + max(2, nbits // 128)
    near, counts = cluster_counts(sample, pool, radius)
    if flip_fraction > 0:      # one refinement: each filter the majority of its records
        sums = np.zeros((len(pool), nbits), np.float32)
        got = np.flatnonzero(near >= 0)
        for lo in range(0, len(got), 8192):
            np.add.at(sums, near[got[lo:lo + 8192]], unpack(sample[got[lo:lo + 8192]]))
        refined = np.packbits(sums >= counts[:, None] / 2, axis=1)
        pool = np.where((counts >= 3)[:, None], refined, pool)
        near, counts = cluster_counts(sample, pool, radius)
    order = np.lexsort((rng.random(len(pool)), -counts))
    rank = np.empty(len(pool), np.int64)
    rank[order] = np.arange(len(pool))
    held = counts > 0
    rank_of = np.where(rank < len(reference), rank, -1)
    out["clusters"] = np.where(near >= 0, rank_of[np.maximum(near, 0)], -1)
    # keep the filters that hold records, ranked; align them by structure
    pool, rank = pool[held], rank[held]
    rank = np.argsort(np.argsort(rank, kind="stable"), kind="stable")
    near = np.where(near >= 0, np.cumsum(held)[np.maximum(near, 0)] - 1, -1)
    m = min(candidates, len(reference))
    (vrow, vtok), vocab = token_sets(reference.values[:m], tokenizer)
    value_tokens = _incidence(vrow, vtok, (m, len(vocab)))
    g = min(graph_values, m)
    if len(pool) >= 3 and restarts > 0:
        # restarts from jittered ranks; the attacker keeps the alignment that fits best
        best = (None, np.inf)
        sim_ref = predicted_dice(value_tokens[:g], plain_bits, hashes, balanced) \
            if g >= 3 else None
        for restart in range(restarts):
            start = rank if restart == 0 else np.argsort(np.argsort(
                rank * np.exp(rng.normal(0, 0.3, len(rank))), kind="stable"), kind="stable")
            got = structure_alignment(pool, start, value_tokens[:g], plain_bits, hashes,
                                      balanced, sim_ref=sim_ref, **(alignment or {}))
            if got[1] < best[1]:
                best = got
        pi = best[0]
        out["graph_values"] = np.where(near >= 0, pi[np.maximum(near, 0)], -1)
    else:
        pi = np.minimum(rank, g - 1)
    learnt, ones, zeros = _learn(pi, unpack(pool), value_tokens, hashes, balanced)
    if len(learnt) == 0:
        return out
    if not min_agreement:    # what a token's positions keep at the declared flip rate
        spread = np.sqrt(flip_fraction * (1 - flip_fraction) / (2 * hashes))
        min_agreement = float(np.clip(1 - flip_fraction - 2.5 * spread, 0.7, 0.85))
    reader = _Reader(nbits, ones, zeros, value_tokens[:, learnt], min_agreement, min_dice)
    _, first_of, inverse = np.unique(row_keys(sample), return_index=True, return_inverse=True)
    guess = np.full(len(first_of), -1, np.int64)
    for lo in range(0, len(first_of), 8192):
        bits = unpack(sample[first_of[lo:lo + 8192]])
        guess[lo:lo + 8192] = reader.match(reader.tokens(bits))
    out["pattern_mining"] = guess[inverse]
    return out


# ---------------------------------------------------------------- graph matching

SIMILARITY_BINS = np.array([0.5, 0.7, 0.85, 0.95, 1.0001])
"""Neighbour similarity bins of a record's signature (below 0.5: not counted)."""


def encoded_dice(packed: np.ndarray, left: np.ndarray, right: np.ndarray,
                 chunk: int = 1 << 17) -> np.ndarray:
    """Dice similarity of the filters of record pairs (what the linkage side computes)."""
    ones = np.bitwise_count(packed).sum(axis=1, dtype=np.int64)
    out = np.empty(len(left), np.float32)
    for lo in range(0, len(left), chunk):
        a, b = left[lo:lo + chunk], right[lo:lo + chunk]
        inter = np.bitwise_count(packed[a] & packed[b]).sum(axis=1, dtype=np.int64)
        out[lo:lo + chunk] = 2 * inter / np.maximum(ones[a] + ones[b], 1)
    return out


def token_dice(value_codes: np.ndarray, distinct: np.ndarray, tokenizer: Callable,
               left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Dice similarity of the token sets (bigrams for names and streets) of the values of
    record pairs: the plaintext graph's edge weights."""
    from scipy import sparse

    (rows, toks), vocab = token_sets(distinct, tokenizer)
    mat = sparse.coo_matrix((np.ones(len(rows), np.float32), (rows, toks)),
                            shape=(len(distinct), len(vocab))).tocsr()
    mat.sum_duplicates()
    mat.data[:] = 1.0                                         # a repeated token counts once
    size = np.asarray(mat.sum(axis=1)).ravel()
    a, b = value_codes[left], value_codes[right]
    out = np.empty(len(left), np.float32)
    step = 1 << 17
    for lo in range(0, len(left), step):
        x, y = a[lo:lo + step], b[lo:lo + step]
        inter = np.asarray(mat[x].multiply(mat[y]).sum(axis=1)).ravel()
        out[lo:lo + step] = 2 * inter / np.maximum(size[x] + size[y], 1)
    return out


def calibrate(encoded: np.ndarray, plain: np.ndarray) -> np.ndarray:
    """Map encoded similarities onto the plaintext scale by their quantiles (the attacker
    holds both distributions over the pairs)."""
    if len(encoded) == 0:
        return encoded
    ranks = pd.Series(encoded).rank(method="average", pct=True).to_numpy()
    return np.quantile(plain, np.clip(ranks, 0, 1)).astype(np.float32)


def signatures(n: int, left: np.ndarray, right: np.ndarray, sim: np.ndarray,
               cap: int = 12) -> np.ndarray:
    """A record's signature: how many neighbours it has in each similarity bin, capped
    (as one int64; 0 for a record without a neighbour of similarity 0.5 or more)."""
    bins = np.searchsorted(SIMILARITY_BINS, sim, side="right") - 1
    ok = (bins >= 0) & (bins < len(SIMILARITY_BINS) - 1)
    nb = len(SIMILARITY_BINS) - 1
    counts = np.zeros((n, nb), np.int64)
    for side in (left, right):
        np.add.at(counts, (side[ok], bins[ok]), 1)
    counts = np.minimum(counts, cap)
    return counts @ ((cap + 1) ** np.arange(nb))


def graph_matching(n: int, left: np.ndarray, right: np.ndarray, enc_sim: np.ndarray,
                   plain_sim: np.ndarray, plain_codes: np.ndarray,
                   shares: np.ndarray) -> np.ndarray:
    """Graph-matching attack: guesses (codes of the plaintext copy's values) per record.

    The attacker holds a plaintext copy of the population (a voter list, a caseload),
    computes the same candidate pairs and weights them by the values' token Dice; each
    encoded record is given the most common value among the plaintext records with its
    signature (:func:`signatures`, on calibrated similarities), the more common value on a
    tie; a record without neighbours of similarity 0.5 or more is not named.

    Args:
        n: records in the night.
        left, right: pairs where both records have the field.
        enc_sim, plain_sim: the pairs' encoded and plaintext similarities.
        plain_codes: per record, its value's code in the plaintext copy (-1: missing).
        shares: share of each code (tie-break).
    """
    enc = signatures(n, left, right, calibrate(enc_sim, plain_sim))
    ref = signatures(n, left, right, plain_sim)
    has = (plain_codes >= 0) & (ref > 0)
    table = pd.DataFrame({"sig": ref[has], "code": plain_codes[has]})
    counts = table.value_counts().rename("k").reset_index()
    counts["share"] = shares[counts["code"].to_numpy()]
    best = counts.sort_values(["sig", "k", "share"], ascending=[True, False, False]) \
        .drop_duplicates("sig").set_index("sig")["code"]
    guess = best.reindex(enc).fillna(-1).to_numpy().astype(np.int64)
    guess[enc == 0] = -1
    return guess
