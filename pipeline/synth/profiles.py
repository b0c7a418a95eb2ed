"""Synthetic-population profiles: the rates and knobs that real extracts vary.

A profile is data, not a code path: :func:`pipeline.synth.generate_night` reads every
knob below where the baseline generator used to have a literal, so ``baseline`` writes
byte-identical files to the generator before profiles existed (its values are those
literals). The other profiles each move a few knobs to what a harder population looks
like, grounded in published figures where they exist:

* ``city``: names and addresses concentrated the way a Baltimore caseload is, and more
  strangers who share a name and a date of birth;
* ``namesakes``: fathers and sons (and grandfathers) sharing first and last name at one
  address, the JR on some records or none, same-named cousins in the same ZIP;
* ``sparse``: guardians without a birth date, more blank SSNs, middle names and contacts,
  guardians whose own records show another street of the same ZIP;
* ``messy``: more birth-date errors of every kind (digit typos, day/month swaps, year off
  by one, wholly wrong), nicknames, typos and maiden-name changes.

Sources are cited on each default; where a profile goes past a published figure on
purpose (a stress), the comment says so.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

__all__ = ["Profile", "PROFILES", "get_profile", "profile_names"]


@dataclass(frozen=True)
class Profile:
    """Rates of one synthetic population (every default is the ``baseline`` value)."""

    name: str = "baseline"
    description: str = "the population the linkage model was tuned on"

    # ---- names: concentration of the name distributions (multiplier on the top names)
    # national shares: US Census 1990 surname / first-name frequency files (names package);
    # the top 10 surnames hold ~7 % of the population there
    surname_top_n: int = 100
    surname_top_mult: float = 1.0
    first_top_n: int = 50
    first_top_mult: float = 1.0
    # Baltimore City ZIPs weigh 8x a Maryland ZIP, ~27 % of addresses (caseloads of DHS,
    # DJS and DPSCS are over-represented in Baltimore City relative to its ~10 % of MD)
    balt_zip_weight: float = 8.0

    # ---- strangers who look alike
    # a DHS singleton in the same ZIP with a guardian/contact's name (share of those records)
    lookalike_rate: float = 0.03
    # a DHS singleton sharing first+last name with any record's person (share of records);
    # of those, the share with the very same birth date / in the same ZIP, and the spread
    # of the age difference (years) when the birth date differs
    stranger_rate: float = 0.0
    stranger_same_dob: float = 0.0
    stranger_same_zip: float = 0.0
    stranger_age_years: float = 5.0

    # ---- namesakes
    # a male head's son named after him (share of eligible families: male head, male first
    # child); about 2-4 % of families, in line with "a few percent of sons are named after
    # their fathers" and ~3-5 % of US men carrying a suffix (SSA/Census name data)
    namesake_rate: float = 0.12
    namesake_middle: float = 0.5     # the son also shares the father's middle name
    namesake_no_suffix: float = 0.0  # neither carries SR/JR on any record
    suffix_drop: float = 0.3         # SR/JR left off one record
    grand_namesake: float = 0.0      # a male grandparent who shares the head's first+last
    iii_rate: float = 0.01           # share of men over 25 with a III (of ~3-5 % suffixed)

    # ---- missing values
    # guardian birth dates: the layout says "often blank"; ~80 % blank at baseline
    guardian_dob_known: float = 0.2
    # SSN blank on DHS / DPSCS records, and the upper end of the placeholder band after it
    ssn_blank: tuple[float, float] = (0.35, 0.15)
    ssn_placeholder_hi: tuple[float, float] = (0.365, 0.17)
    middle_mode_p: tuple[float, float, float] = (0.4, 0.3, 0.3)  # blank / initial / full
    contact_null_hi: float = 0.16    # contact left null for u in [0.12, this)
    # a DJS guardian whose own DHS records show another street of the same ZIP
    guardian_elsewhere: float = 0.0

    # ---- spelling and birth-date errors
    nickname_rate: float = 0.05
    typo_rate: float = 0.025
    maiden_p: tuple[float, float, float] = (0.10, 0.20, 0.30)  # by agency DHS, DJS, DPSCS
    hyphen_p: tuple[float, float, float] = (0.15, 0.10, 0.10)
    # birth-date errors of a primary record. Administrative and hospital data show ~1-3 %
    # of records with a DOB discrepancy, mostly day/month transpositions and single-digit
    # typos (e.g. Hagger-Johnson et al., BMJ Open 2015; Grannis et al., AMIA 2002)
    dob_swap: float = 0.015          # day/month swap (applies only where the day is <= 12)
    dob_typo: float = 0.0            # one digit of the day or year's last digit mistyped
    dob_year: float = 0.0            # year off by one
    dob_wrong: float = 0.0           # wholly wrong (another date within ~10 years)

    def name_boost(self, kind: str) -> tuple[int, float] | None:
        """``(top_n, multiplier)`` for a name kind, or None where it is the national share."""
        top, mult = ((self.surname_top_n, self.surname_top_mult) if kind == "last"
                     else (self.first_top_n, self.first_top_mult))
        return None if mult == 1.0 else (top, mult)

    def knobs(self) -> dict[str, object]:
        """The knobs as a JSON-able dict (for summaries and reports)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("name", "description")}


BASELINE = Profile()

PROFILES: dict[str, Profile] = {
    "baseline": BASELINE,
    "city": replace(
        BASELINE, name="city",
        description="Baltimore-like name and address concentration, same-name same-DOB "
                    "strangers",
        # 2010 Census surname table: Williams, Johnson, Smith, Jones, Brown are 47/35/23/
        # 38/36 % Black; Baltimore City is 63 % Black (2010 Census), so these names hold
        # ~2x their national share there; 3x on the top 100 is a stress past that
        surname_top_mult=3.0,
        # SSA first-name data: the most popular names of a birth cohort and a community
        # concentrate (e.g. top 50 names ~2x their all-US share in a cohort)
        first_top_mult=2.0,
        # most of the caseload in Baltimore City ZIPs (~65 % of addresses, not ~27 %)
        balt_zip_weight=40.0,
        # same first+last+DOB strangers are common among common names in a big city (the
        # widely quoted Harris County hospital count: 2,488 patients named Maria Garcia,
        # 231 of them sharing a birth date); ~1.2 % of records here have one (a stress)
        stranger_rate=0.02, stranger_same_dob=0.6, stranger_same_zip=0.3,
        stranger_age_years=3.0,
    ),
    "namesakes": replace(
        BASELINE, name="namesakes",
        description="fathers/sons/grandfathers sharing names at one address, JR on some "
                    "records or none, same-named cousins in the same ZIP",
        namesake_rate=0.35,          # ~3x baseline: communities where Jr. is common (stress)
        namesake_middle=0.8,
        namesake_no_suffix=0.4,      # the JR often never recorded at all
        suffix_drop=0.6,             # and on only some records when it is
        grand_namesake=0.3,          # three generations of one name (Sr., Jr., III)
        iii_rate=0.02,
        # same-named cousins/relatives: same first+last, same ZIP, within ~8 years
        stranger_rate=0.02, stranger_same_dob=0.0, stranger_same_zip=0.9,
        stranger_age_years=8.0,
    ),
    "sparse": replace(
        BASELINE, name="sparse",
        description="guardians without a birth date, more missing SSNs, middle names and "
                    "contacts, guardians at another street of the same ZIP",
        guardian_dob_known=0.05,
        # DHS SSN missing in ~55 % (SNAP/TCA children and non-applying members often carry
        # none), DPSCS ~30 %: missing-value rates of administrative extracts (stress)
        ssn_blank=(0.55, 0.30), ssn_placeholder_hi=(0.565, 0.32),
        middle_mode_p=(0.65, 0.25, 0.10),
        contact_null_hi=0.30,
        # a guardian living apart from the youth, a few streets away (non-custodial parent,
        # grandparent's own home): ~1 in 4 youths do not live with the named guardian
        guardian_elsewhere=0.25,
    ),
    "messy": replace(
        BASELINE, name="messy",
        description="birth-date errors of every kind at the top of published rates, more "
                    "nicknames, typos and maiden-name changes",
        # ~3.5 % of primary records with a DOB error: the top of the published 1-3 % range
        # plus a margin, with swaps and single-digit typos dominating
        dob_swap=0.03, dob_typo=0.012, dob_year=0.006, dob_wrong=0.004,
        nickname_rate=0.12,
        typo_rate=0.05,
        maiden_p=(0.20, 0.35, 0.45),
        hyphen_p=(0.20, 0.15, 0.15),
    ),
}


def profile_names() -> list[str]:
    """Profile names, baseline first."""
    return list(PROFILES)


def get_profile(name: str | Profile) -> Profile:
    """The profile called ``name`` (a :class:`Profile` is returned as is).

    Raises:
        ValueError: on an unknown name.
    """
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}")
    return PROFILES[name]
