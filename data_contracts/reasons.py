"""Quarantine reason codes.

A row that breaks its agency's contract is set aside with exactly one reason. When a row
breaks several rules the first reason in :data:`PRECEDENCE` wins, so a row is counted once.
"""

from __future__ import annotations

from enum import StrEnum


class QuarantineReason(StrEnum):
    """Why a row was quarantined (the ``reason`` column of ``quarantine.csv``)."""

    BAD_ENCODING = "bad_encoding"
    """Bytes that are neither UTF-8 nor Windows-1252 text, or control characters."""
    WRONG_COLUMN_COUNT = "wrong_column_count"
    """Too few or too many fields for the layout."""
    FIELD_TOO_LONG = "field_too_long"
    """A field longer than :data:`MAX_FIELD_CHARS` characters: no layout has one that long
    (the spec calls it dirt), so the row is set aside rather than loaded."""
    BAD_ID = "bad_id"
    """Record id (or DHS case id) blank or not in the layout's format."""
    DUPLICATE_ID = "duplicate_id"
    """The record id is carried by more than one row; every such row is quarantined."""
    BAD_DATE = "bad_date"
    """A date of birth or activity date that is not a real date in the layout's format,
    or a date of birth before the configured earliest year."""
    FUTURE_DATE = "future_date"
    """A date of birth or activity date after the night of the extract."""
    MISSING_NAME = "missing_name"
    """Neither a first nor a last name."""


MAX_FIELD_CHARS = 500
"""The longest field a row may carry (``../shared/specs/agency_extracts.md``)."""

PRECEDENCE: tuple[QuarantineReason, ...] = tuple(QuarantineReason)
"""Order in which reasons are assigned when a row breaks several rules."""
