"""Optional fields (``[encoding] optional_fields``): birth place and occupation, which
historical and census records carry and the agency extracts do not. Off by default: an
agency file is the file it was (columns, fingerprint); on, each is a hardened filter the
linkage side grades like the other fields, and the plaintext twin grades alike."""

from __future__ import annotations

import numpy as np
from people import persons

from hashing import EncodingSettings, LinkageKey, encode_extract
from linkage.compare import COMPARISON_NAMES, compare
from linkage.plaintext import compare_plaintext, plaintext_values

KEY = LinkageKey.from_bytes(bytes(range(32)))
ROWS = [dict(first="ANNA", last="KOVAC", birth_place="BIRMINGHAM", occupation="WEAVER"),
        dict(first="ANNA", last="KOVAC", birth_place="BIRMINGHAM", occupation="WEAVERS"),
        dict(first="ANNA", last="KOVAC", birth_place="BIRMINGAM", occupation="CLERK"),
        dict(first="ANNA", last="KOVAC", birth_place="LEEDS", occupation=None)]


def _frame():  # type: ignore[no-untyped-def]
    frame = persons([{k: v for k, v in r.items() if k not in ("birth_place", "occupation")}
                     for r in ROWS])
    frame["birth_place"] = [r["birth_place"] for r in ROWS]
    frame["occupation"] = [r["occupation"] for r in ROWS]
    return frame


def test_off_by_default_the_file_and_fingerprint_do_not_change() -> None:
    plain = EncodingSettings()
    assert "optional_fields" not in plain.describe()
    assert "place" not in plain.describe()["fields"]
    t = encode_extract(_frame(), KEY, plain, {})
    assert "enc_place" not in t.column_names and "enc_occupation" not in t.column_names
    g = compare(t, np.array([0]), np.array([1]), plain.describe())
    assert g[0, COMPARISON_NAMES.index("place")] == -1


def test_on_each_is_a_flipped_filter_graded_like_the_plaintext() -> None:
    on = EncodingSettings(optional_fields=("place", "occupation"))
    assert on.validate() == []
    assert on.sha256() != EncodingSettings().sha256()
    frame = _frame()
    t = encode_extract(frame, KEY, on, {})
    assert {"enc_place", "enc_occupation"} <= set(t.column_names)
    assert "place" in on.describe()["flip_fields"]
    # two records with one value get different filters (flips): no frequency to read
    assert t.column("enc_place")[0].as_py() != t.column("enc_place")[1].as_py()
    left, right = np.array([0, 0, 0]), np.array([1, 2, 3])
    g = compare(t, left, right, on.describe())
    place, job = COMPARISON_NAMES.index("place"), COMPARISON_NAMES.index("occupation")
    assert g[:, place].tolist() == [2, 1, 0]          # exact, one typo, different
    assert g[:, job].tolist() == [1, 0, -1]           # one typo, different, missing
    plain = compare_plaintext(t, plaintext_values(frame), left, right)
    assert np.array_equal(plain[:, [place, job]], g[:, [place, job]])


def test_an_unknown_optional_field_is_refused() -> None:
    problems = EncodingSettings(optional_fields=("religion",)).validate()
    assert problems and problems[0].startswith("optional_fields: unknown field religion")


def test_the_audit_attacks_the_optional_fields_a_file_carries() -> None:
    """An optional field is audited like the identifiers: the exact frequency attack reads
    nothing of a flipped birth place and every value of an unhardened one; a file without
    the field has no such entry. (Six places are few enough that the denoising attack still
    reads some: what the audit is there to show.)"""
    from hashing.audit import AuditSettings, audit_night
    from hashing.values import field_values

    rng = np.random.default_rng(3)
    places = rng.choice(["LONDON", "LEEDS", "YORK", "BATH", "DERBY", "ELY"], 400,
                        p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    frame = persons([dict(first=f"N{i}", last=f"L{i % 37}") for i in range(400)])
    frame["birth_place"] = places
    attacks = AuditSettings(attacks=("frequency",), references=("night",))

    def exact(settings: EncodingSettings) -> dict:
        t = encode_extract(frame, KEY, settings, {})
        return audit_night(t, settings.describe(), field_values(frame), attacks)["fields"]

    hardened = exact(EncodingSettings(optional_fields=("place",)))
    weak = exact(EncodingSettings(optional_fields=("place",), balance=False,
                                  flip_fraction=0.0))
    assert hardened["place"]["attacks"]["frequency_exact"]["night"]["values"] == 0.0
    assert weak["place"]["attacks"]["frequency_exact"]["night"]["values"] == 1.0
    assert "occupation" not in hardened
    assert "place" not in exact(EncodingSettings())


def test_a_night_without_them_reports_no_such_comparison(small_night) -> None:  # type: ignore[no-untyped-def]
    """The model's JSON (and the analysts' report made from it) shows what tonight's pairs
    compared: no birth-place or occupation table of uniform guesses on an agency night."""
    from people import link_night_with

    model = link_night_with(small_night, {}).model
    shown = model.to_json()
    assert "place" not in shown["comparisons"] and "occupation" not in shown["comparisons"]
    assert {"first_name", "dob", "address"} <= set(shown["comparisons"])
    for info in shown["sessions"].values():
        assert "place" not in info.get("estimated", [])
