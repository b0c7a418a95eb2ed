"""Hand-made cases linked inside a realistic night: a small synthetic night (its ~20k
records give the model its population) plus a few constructed families, encoded with one
key and linked by ``linkage.link.link_records``. Each test reads where its records ended.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from people import persons

from data_contracts import find_extracts, load_extract, parse_night
from hashing import EncodingSettings, LinkageKey, encode_extract
from linkage.compare import COMPARISON_NAMES, NAME_TOKEN_LEVELS
from linkage.inputs import EncodedNight
from linkage.link import LinkResult, link_records
from linkage.plaintext import plaintext_values
from linkage.settings import LinkageSettings

KEY = LinkageKey.from_bytes(bytes(range(32)))
CROSSWALK = {"21217": "West Baltimore"}

HAND = {
    "DHS": [
        # a father and son namesake (JR/SR) in one case, the son also in DPSCS
        dict(id="C910000011", group="K91000001", first="JOHN", last="SMITHERS", suffix="SR",
             dob="1961-02-03", ssn="219551001", number="41", street="WILLOW CT"),
        dict(id="C910000012", group="K91000001", first="JOHN", last="SMITHERS", suffix="JR",
             dob="1989-08-09", relationship="CHILD", number="41", street="WILLOW CT"),
        # one person with two client ids in one case
        dict(id="C910000021", group="K91000002", first="PATRICIA", last="QUINTANILLA",
             dob="1979-04-12", ssn="212771234", sex="F", number="8", street="LARCH ST"),
        dict(id="C910000022", group="K91000002", first="PATRICIA", last="QUINTANILLA",
             dob="1979-04-12", ssn="212771234", sex="F", number="8", street="LARCH ST"),
        # a youth's real mother (with the youth in her case) and a look-alike in her ZIP
        dict(id="C910000031", group="K91000003", first="ADAEZE", last="OKORONKWO",
             dob="1984-01-01", sex="F", number="77", street="ASPEN WAY"),
        dict(id="C910000032", group="K91000003", first="DESHAWN", last="OKORONKWO",
             dob="2010-05-05", relationship="CHILD", number="77", street="ASPEN WAY"),
        dict(id="C910000041", group="K91000004", first="ADAEZE", last="OKORONKWO",
             dob="1990-09-09", sex="F", number="1200", street="CEDAR RD"),
        # chaining: a father in DHS, his namesake with another birth date in DPSCS, and a
        # guardian with only a name at the same address between them
        dict(id="C910000051", group="K91000005", first="MARCUS", last="TEMPLETON",
             dob="1970-01-01", number="5", street="BIRCH LN"),
        # a mother and her adult son in one case; the son is an offender whose emergency
        # contact is his mother under her maiden name, with no address: no blocking key
        # pairs the contact with her (other surname), only their family does
        dict(id="C910000061", group="K91000006", first="GLORIA", last="FAIRWEATHER",
             dob="1968-07-14", sex="F", ssn="219668812", number="19", street="CYPRESS ST"),
        dict(id="C910000062", group="K91000006", first="DARNELL", last="FAIRWEATHER",
             relationship="OTHER ADULT", dob="1992-03-30", number="19",
             street="CYPRESS ST"),
        dict(id="C910000063", group="K91000006", first="TAMIKA", last="FAIRWEATHER",
             relationship="OTHER ADULT", dob="1994-10-02", sex="F", number="19",
             street="CYPRESS ST"),
        # a father and his namesake son at one address, no suffix on any record: the son
        # is an offender and has a DHS case of his own
        dict(id="C910000071", group="K91000007", first="ROBERT", last="KOWALCZYK",
             dob="1966-04-19", number="300", street="HAWTHORNE AVE"),
        dict(id="C910000072", group="K91000008", first="ROBERT", last="KOWALCZYK",
             dob="1992-11-02", number="300", street="HAWTHORNE AVE"),
        # a youth in a DHS case; an adult offender with his name and address is his father
        dict(id="C910000081", group="K91000009", first="JAYDEN", last="MCALLISTER",
             dob="2011-06-21", relationship="CHILD", number="15", street="ELM ST"),
    ],
    "DJS": [
        dict(id="Y9100003", agency="DJS", group="Y9100003", relationship="SELF",
             first="JAYDEN", last="MCALLISTER", dob="2011-06-21", number="15",
             street="ELM ST"),
        dict(id="Y9100001", agency="DJS", group="Y9100001", relationship="SELF",
             first="DESHAWN", last="OKORONKWO", dob="2010-05-05", number="77",
             street="ASPEN WAY"),
        dict(id="Y9100001#guardian1", agency="DJS", kind="guardian", group="Y9100001",
             relationship="MOTHER", first="ADAEZE", last="OKORONKWO", sex="F", number="77",
             street="ASPEN WAY"),
        dict(id="Y9100002", agency="DJS", group="Y9100002", relationship="SELF",
             first="TYRELL", last="TEMPLETON", dob="2011-03-03", number="5", street="BIRCH LN"),
        dict(id="Y9100002#guardian1", agency="DJS", kind="guardian", group="Y9100002",
             relationship="FATHER", first="MARCUS", last="TEMPLETON", number="5",
             street="BIRCH LN"),
    ],
    "DPSCS": [
        dict(id="91000001", agency="DPSCS", group="91000001", relationship="SELF",
             first="JOHN", last="SMITHERS", suffix="JR", dob="1989-08-09", number="41",
             street="WILLOW CT"),
        dict(id="91000002", agency="DPSCS", group="91000002", relationship="SELF",
             first="MARCUS", last="TEMPLETON", dob="1995-12-12", number="5", street="BIRCH LN"),
        dict(id="91000003", agency="DPSCS", group="91000003", relationship="SELF",
             first="DARNELL", last="FAIRWEATHER", dob="1992-03-30", number="19",
             street="CYPRESS ST"),
        dict(id="91000003#contact", agency="DPSCS", kind="contact", group="91000003",
             relationship="MOTHER", first="GLORIA", last="PEMBERTON", sex="F", number=None,
             street=None, zip=None),
        dict(id="91000005", agency="DPSCS", group="91000005", relationship="SELF",
             first="ROBERT", last="KOWALCZYK", dob="1992-11-02", number="300",
             street="HAWTHORNE AVE"),
        dict(id="91000006", agency="DPSCS", group="91000006", relationship="SELF",
             first="JAYDEN", last="MCALLISTER", dob="1987-02-08", number="15",
             street="ELM ST"),
        # a sister's contact entry on another offender: another first name, not the sister
        dict(id="91000004", agency="DPSCS", group="91000004", relationship="SELF",
             first="TAMIKA", last="FAIRWEATHER", dob="1994-10-02", sex="F", number="19",
             street="CYPRESS ST"),
        dict(id="91000004#contact", agency="DPSCS", kind="contact", group="91000004",
             relationship="SISTER", first="TANISHA", last="FAIRWEATHER", sex="F",
             number=None, street=None, zip=None),
    ],
}


@pytest.fixture(scope="module")
def frames(small_night: Path) -> tuple[str, dict[str, pd.DataFrame]]:
    """The night's person frames per agency, the hand-made records appended."""
    night, paths = find_extracts(small_night)
    out = {}
    for agency, path in paths.items():
        frame = load_extract(path, agency, parse_night(night)).persons
        hand = persons([{"agency": agency, **r} for r in HAND[agency]])
        out[agency] = pd.concat([frame, hand.astype(frame.dtypes.to_dict())],
                                ignore_index=True)
    return night, out


@pytest.fixture(scope="module")
def night_records(frames: tuple[str, dict[str, pd.DataFrame]]) -> EncodedNight:
    night, by_agency = frames
    tables = [encode_extract(f, KEY, EncodingSettings(), CROSSWALK) for f in by_agency.values()]
    return EncodedNight(records=pa.concat_tables(tables), key_id=KEY.key_id,
                        encoding=EncodingSettings().describe(), night=night,
                        agencies=tuple(by_agency))


@pytest.fixture(scope="module")
def result(night_records: EncodedNight) -> LinkResult:
    return link_records(night_records)


@pytest.fixture(scope="module")
def linked(result: LinkResult) -> pd.DataFrame:
    return result.records.set_index(["agency", "record_id"])


def _same(df: pd.DataFrame, col: str, a: tuple[str, str], b: tuple[str, str]) -> bool:
    return bool(df.loc[a, col] == df.loc[b, col])


def test_namesakes_jr_and_sr_stay_apart_and_the_son_links(linked: pd.DataFrame) -> None:
    sr, jr, dpscs = ("DHS", "C910000011"), ("DHS", "C910000012"), ("DPSCS", "91000001")
    assert not _same(linked, "person", sr, jr)
    assert _same(linked, "person", jr, dpscs)
    assert not _same(linked, "person", sr, dpscs)
    assert linked.loc[sr, "multi_system"]          # the father's family (the case) is shared
    assert linked.loc[sr, "systems"] == "DHS+DPSCS"


def test_a_father_and_namesake_son_without_a_suffix_stay_apart(linked: pd.DataFrame) -> None:
    """Same first and last name, one address, birth years 26 apart and no JR or SR on any
    record: two people (a different birth date must not be outweighed by name and address;
    EM over name-sharing pairs learns such namesakes as matches)."""
    father, son, offender = ("DHS", "C910000071"), ("DHS", "C910000072"), ("DPSCS", "91000005")
    assert _same(linked, "person", son, offender)
    assert not _same(linked, "person", father, offender)
    assert not _same(linked, "person", father, son)


def test_a_child_never_joins_an_adult_offender(linked: pd.DataFrame) -> None:
    """A DJS youth born 2011 and a DPSCS offender born 1987 with his name and address: the
    youth links to his own DHS record, never to the offender."""
    youth, dhs_child, offender = ("DJS", "Y9100003"), ("DHS", "C910000081"), \
        ("DPSCS", "91000006")
    assert _same(linked, "person", youth, dhs_child)
    assert not _same(linked, "person", youth, offender)
    assert not _same(linked, "person", dhs_child, offender)


def test_dhs_duplicate_client_ids_merge(linked: pd.DataFrame) -> None:
    assert _same(linked, "person", ("DHS", "C910000021"), ("DHS", "C910000022"))


def test_guardian_links_to_the_mother_not_to_her_look_alike(linked: pd.DataFrame) -> None:
    guardian, mother = ("DJS", "Y9100001#guardian1"), ("DHS", "C910000031")
    look_alike = ("DHS", "C910000041")
    assert _same(linked, "person", guardian, mother)
    assert not _same(linked, "person", guardian, look_alike)
    assert not _same(linked, "family", mother, look_alike)
    assert not linked.loc[look_alike, "multi_system"]
    assert linked.loc[mother, "systems"] == "DHS+DJS"
    assert 0 < linked.loc[mother, "link_probability"] <= 1


def test_a_name_only_guardian_does_not_chain_two_birth_dates(linked: pd.DataFrame) -> None:
    father, namesake = ("DHS", "C910000051"), ("DPSCS", "91000002")
    assert not _same(linked, "person", father, namesake)


def test_a_contact_under_her_maiden_name_links_inside_her_family(
        linked: pd.DataFrame, night_records: EncodedNight) -> None:
    mother, son = ("DHS", "C910000061"), ("DHS", "C910000062")
    contact, offender = ("DPSCS", "91000003#contact"), ("DPSCS", "91000003")
    assert _same(linked, "person", son, offender)           # the first pass's link
    assert _same(linked, "person", contact, mother)         # the second pass's
    # the sister is in the case and in DPSCS; the other offender's contact TANISHA is not
    # her (another first name), nor is anyone else in the family
    assert _same(linked, "person", ("DHS", "C910000063"), ("DPSCS", "91000004"))
    sister_contact = ("DPSCS", "91000004#contact")
    family = linked[linked["family"] == linked.loc[sister_contact, "family"]]
    assert (family["person"] == linked.loc[sister_contact, "person"]).sum() == 1
    # without the second pass the contact stays alone: no blocking key brought them
    # together, and the family is the same either way
    first_only = link_records(night_records, LinkageSettings(within_families=False)) \
        .records.set_index(["agency", "record_id"])
    assert not _same(first_only, "person", contact, mother)
    assert _same(first_only, "family", contact, mother)


def test_name_token_levels_get_the_u_a_plaintext_linker_sees(
        result: LinkResult, night_records: EncodedNight,
        frames: tuple[str, dict[str, pd.DataFrame]]) -> None:
    """The encodings grant "a nickname key shared" and "shares a surname word" through the
    name rule's token, which needs the other name to agree too: random pairs almost never
    show them (under a tenth of what the plaintext comparison sees, the same agreement
    without that condition). Their ``u`` is estimated where the other name agrees."""
    values = pd.concat([plaintext_values(f) for f in frames[1].values()], ignore_index=True)
    plain = link_records(night_records, LinkageSettings(comparison="plaintext"), values).model
    encoded = result.model
    first, last = (COMPARISON_NAMES.index(n) for n in ("first_name", "last_name"))
    key, word = NAME_TOKEN_LEVELS["first_name"], NAME_TOKEN_LEVELS["last_name"]
    assert 0.5 < encoded.u[first][key] / plain.u[first][key] < 2
    assert encoded.u[last][word] > plain.u[last][word] / 3
    for model in (encoded, plain):
        assert all(abs(p.sum() - 1) < 1e-9 for p in model.u)
