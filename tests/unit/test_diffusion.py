"""Diffusion hardening (issue 16, item 2): keyed XOR of ``t`` filter bits per output bit.

The selection must be keyed (another key or field, another selection), deterministic (the
same key, the same selection), well formed (every input bit feeds ``t`` output bits, no
output bit takes one bit twice or a bit and its balanced complement), applied (an encoding
with diffusion is not the encoding without it), and keep distances readable (the inverse
recovers the filters' distance). The settings record it, so files differ in fingerprint.
"""

from __future__ import annotations

import numpy as np
import pytest
from people import persons

from data_contracts.encoded import diffused_distance, undiffused_distance
from hashing import EncodingSettings, LinkageKey, Purpose, _bloom, _hardening, encode_extract

KEY = LinkageKey.from_bytes(bytes(range(32)))
OTHER_KEY = LinkageKey.from_bytes(bytes(range(1, 33)))
NAMES = np.array(["JOHN", "JON", "JOHNNY", "MARY", "JONATHAN", "SMITH", "A"], dtype=object)


def _balanced(key: LinkageKey, name: str = "first_name", bits: int = 256
              ) -> tuple[np.ndarray, np.ndarray]:
    perm = _hardening.secret_permutation(key.derive(Purpose.PERMUTATION, name), 2 * bits)
    filters = _bloom.build_filters(NAMES, _bloom.bigrams, key.derive(Purpose.FIELD, name),
                                   bits, 10, perm)
    return filters, perm


def _bits(packed: np.ndarray) -> np.ndarray:
    return np.unpackbits(packed, axis=1).astype(np.int64)


@pytest.mark.parametrize("t", [2, 3, 5])
def test_taps_are_balanced_and_free_of_clashes(t: int) -> None:
    _, perm = _balanced(KEY)
    taps = _hardening.field_diffusion(KEY, "first_name", 512, t, perm)
    assert taps.shape == (512, t)
    for k in range(t):                       # each column a permutation: every bit used t times
        assert np.array_equal(np.sort(taps[:, k]), np.arange(512))
    assert all(len(set(row)) == t for row in taps.tolist())
    partner = _hardening.complement_partners(perm)
    assert not any(partner[a] in row for row in taps.tolist() for a in row)


def test_diffusion_is_the_xor_of_the_taps() -> None:
    filters, perm = _balanced(KEY)
    taps = _hardening.field_diffusion(KEY, "first_name", 512, 3, perm)
    out = _bits(_hardening.diffuse(filters, taps))
    expected = _bits(filters)[:, taps].sum(axis=2) % 2       # reference: per bit, per row
    assert np.array_equal(out, expected)


def test_selection_is_keyed_deterministic_and_per_field() -> None:
    _, perm = _balanced(KEY)
    a = _hardening.field_diffusion(KEY, "first_name", 512, 3, perm)
    assert np.array_equal(a, _hardening.field_diffusion(KEY, "first_name", 512, 3, perm))
    _, other_perm = _balanced(OTHER_KEY)
    assert not np.array_equal(a, _hardening.field_diffusion(OTHER_KEY, "first_name", 512, 3,
                                                            other_perm))
    assert not np.array_equal(a, _hardening.field_diffusion(KEY, "last_name", 512, 3, perm))
    # its own subkey: not the balancing permutation's
    assert KEY.derive(Purpose.PERMUTATION, "diffusion/first_name") != \
        KEY.derive(Purpose.PERMUTATION, "first_name")


def test_no_output_bit_stands_for_one_input_bit() -> None:
    """What pattern mining reads: after balancing alone, each bit is one position of the
    tokens' filter; after diffusion no output bit follows any single input bit over many
    values."""
    rng = np.random.default_rng(7)
    letters = np.array(list("ABCDEFGHIJKLMNOPRSTW"))
    values = np.array(["".join(rng.choice(letters, rng.integers(3, 9))) for _ in range(400)],
                      dtype=object)
    perm = _hardening.secret_permutation(KEY.derive(Purpose.PERMUTATION, "first_name"), 512)
    filters = _bloom.build_filters(values, _bloom.bigrams, KEY.derive(Purpose.FIELD,
                                                                      "first_name"), 256, 10,
                                   perm)
    plain = _bits(filters)
    taps = _hardening.field_diffusion(KEY, "first_name", 512, 3, perm)
    out = _bits(_hardening.diffuse(filters, taps))
    follows = (out[:, :, None] == plain[:, None, :]).all(axis=0)    # [output bit, input bit]
    assert not follows.any()
    assert ((plain[:, :, None] == plain[:, None, :]).all(axis=0)).any(axis=1).all()


def test_distances_grow_and_the_inverse_recovers_them() -> None:
    filters, perm = _balanced(KEY)
    plain = _bits(filters)
    d_in = np.abs(plain[0] - plain[1:]).sum(axis=1)
    for t in (2, 3, 4):
        out = _bits(_hardening.diffuse(filters, _hardening.field_diffusion(
            KEY, "first_name", 512, t, perm)))
        d_out = np.abs(out[0] - out[1:]).sum(axis=1)
        near = d_in < 100                       # JON, JOHNNY, JONATHAN against JOHN
        assert (d_out[near] > d_in[near]).all()  # small distances are spread out ...
        est = undiffused_distance(d_out, 512, t)
        assert np.all(np.abs(est[near] - d_in[near]) <= 0.35 * d_in[near] + 8)  # ... and read back
    assert np.allclose(undiffused_distance(
        diffused_distance(np.arange(0, 256, 16), 512, 3), 512, 3),
        np.arange(0, 256, 16))
    # with flips and no diffusion the inverse is the linkage side's noise correction
    r = 26 / 512
    assert np.isclose(undiffused_distance(np.array([512 * 2 * r * (1 - r)]), 512, 0,
                                                     26)[0], 0.0)


def test_flips_then_diffusion_read_back() -> None:
    """Records flipped (26 of 512 bits each), then diffused: the inverse takes both off."""
    rng = np.random.default_rng(3)
    filters, perm = _balanced(KEY)
    taps = _hardening.field_diffusion(KEY, "first_name", 512, 3, perm)
    plain = _bits(filters)
    d_in = np.abs(plain[0] - plain[1:4]).sum(axis=1)          # JON, JOHNNY, MARY vs JOHN
    est = []
    for _ in range(200):
        noisy = plain[:4].copy()
        for i in range(4):
            noisy[i, rng.choice(512, 26, replace=False)] ^= 1
        out = _bits(_hardening.diffuse(np.packbits(noisy.astype(np.uint8), axis=1), taps))
        est.append(undiffused_distance(np.abs(out[0] - out[1:]).sum(axis=1), 512,
                                                  3, 26))
    assert np.allclose(np.mean(est, axis=0), d_in, rtol=0.12, atol=4)


def test_settings_validate_and_record_diffusion() -> None:
    assert EncodingSettings(diffusion=3).validate() == []
    assert EncodingSettings(diffusion=1).validate()
    assert EncodingSettings(diffusion=17).validate()
    assert EncodingSettings(diffusion=3, diffusion_fields=("nope",)).validate()
    off, on = EncodingSettings(), EncodingSettings(diffusion=3)
    assert "diffusion" not in off.describe()            # off: the old fingerprint stands
    assert on.describe()["diffusion"] == 3
    assert on.describe()["fields"]["first_name"]["diffusion"] == 3
    assert "diffusion" not in on.describe()["fields"]["dob"]
    assert off.sha256() != on.sha256() != EncodingSettings(diffusion=4).sha256()
    assert on.diffused("first_name") == 3 and on.diffused("dob") == 0 and off.diffused(
        "first_name") == 0


def test_the_encoder_flips_then_diffuses() -> None:
    """``encode_extract`` with diffusion gives, per record, the diffusion of exactly the
    flipped encoding it gives without diffusion (same key and flips): the encoder applies
    it, after the flips, on the configured fields only."""
    frame = persons([dict(first=n, last="SMITH", dob="1980-01-02", id=f"C{i:09d}")
                     for i, n in enumerate(["JOHN", "MARY", "JOHN", "ANA"])])
    plain = encode_extract(frame, KEY, EncodingSettings(flip_fraction=0.07), {})
    diffused = encode_extract(frame, KEY, EncodingSettings(flip_fraction=0.07, diffusion=3),
                              {})
    before = np.stack([np.frombuffer(b, np.uint8) for b in plain["enc_first_name"].to_pylist()])
    after = np.stack([np.frombuffer(b, np.uint8) for b in diffused["enc_first_name"].to_pylist()])
    perm = _hardening.secret_permutation(KEY.derive(Purpose.PERMUTATION, "first_name"), 512)
    taps = _hardening.field_diffusion(KEY, "first_name", 512, 3, perm)
    assert np.array_equal(after, _hardening.diffuse(before, taps))
    assert not np.array_equal(after, before)
    assert plain["enc_dob"].equals(diffused["enc_dob"])          # not a diffusion field


def test_a_diffused_night_links_as_well(small_night) -> None:  # type: ignore[no-untyped-def]
    """The encoder diffuses, the linkage side reads the diffusion from the files'
    settings: a small night encoded with 7 % flips then diffusion (three taps) links
    within a point of the default on every level, against the synthetic truth."""
    import pandas as pd
    from people import link_night_with

    from hashing import EncodingSettings
    from pipeline.evaluate import linkage_vs_truth

    truth = pd.read_parquet(small_night / "truth" / "records.parquet")
    scores = {}
    for name, settings in (("default", EncodingSettings()),
                           ("diffused", EncodingSettings(flip_fraction=0.07, diffusion=3))):
        result = link_night_with(small_night, {}, settings)
        quality = linkage_vs_truth(result.records, truth)
        scores[name] = {k: quality[k]["f1"] for k in ("record", "person_pair", "family_pair")}
    for level, f1 in scores["default"].items():
        assert f1 > 0.95
        assert scores["diffused"][level] > f1 - 0.01, (level, scores)
