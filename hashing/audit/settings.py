"""``[audit]`` settings (``configs/default.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

ATTACKS: tuple[str, ...] = ("frequency", "pattern_mining", "graph")
REFERENCES: tuple[str, ...] = ("night", "public")


@dataclass(frozen=True)
class AuditSettings:
    """``[audit]``: see ``configs/default.toml`` for each setting.

    Attributes:
        limit: largest share of records any attack may re-identify on a field or a
            blocking rule.
        strict: over the limit stops the run (status 2) rather than warning.
        attacks: which attacks run.
        references: which reference populations the attacker aligns with.
        sample_records: records per field the pattern-mining attack reads back (a
            uniform sample; the share is estimated on it).
        seed: seed of the attacks' random choices (bit samples, ties).
    """

    limit: float = 0.01
    strict: bool = False
    attacks: tuple[str, ...] = ATTACKS
    references: tuple[str, ...] = REFERENCES
    sample_records: int = 20000
    seed: int = 0

    def validate(self) -> list[str]:
        """Problems with the settings, as ``key: what is wrong`` strings."""
        problems = []
        if not 0 <= self.limit <= 1:
            problems.append("limit: must be a share between 0 and 1")
        bad = [a for a in self.attacks if a not in ATTACKS]
        if bad:
            problems.append(f"attacks: unknown attack {bad[0]} ({', '.join(ATTACKS)})")
        bad = [r for r in self.references if r not in REFERENCES]
        if bad or "night" not in self.references:
            problems.append(f"references: must include night and be among "
                            f"{', '.join(REFERENCES)}")
        if not isinstance(self.sample_records, int) or self.sample_records < 100:
            problems.append("sample_records: must be a whole number of at least 100")
        return problems
