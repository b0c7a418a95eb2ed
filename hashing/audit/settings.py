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
        seed: seed of the attacks' random choices (bit samples, ties); each field, attack
            and reference draws from its own stream of it (:func:`hashing.audit.stream`).
        every_run: the nightly run has an ``audit`` stage (after encode, on the agency
            side): a cheaper audit whose figures go into the manifest, the report and a
            Prefect artifact, with the same limit and ``strict``.
        run_records: records of the night the run's stage attacks (a uniform sample; 0:
            all of them). Its blocking rules are attacked on the whole night.
        run_attacks: the attacks of the run's stage (the ``night`` reference only, one
            alignment restart).
        run_sample_records: records per field the stage's pattern-mining and graph
            attacks read back (of the ``run_records``).
    """

    limit: float = 0.01
    strict: bool = False
    attacks: tuple[str, ...] = ATTACKS
    references: tuple[str, ...] = REFERENCES
    sample_records: int = 20000
    seed: int = 0
    every_run: bool = True
    run_records: int = 10000
    run_attacks: tuple[str, ...] = ("frequency", "pattern_mining")
    run_sample_records: int = 2000

    def for_run(self) -> AuditSettings:
        """The settings of the nightly run's audit stage: ``run_attacks`` against the
        ``night`` reference, ``run_sample_records`` read back; limit and strict as set."""
        from dataclasses import replace

        return replace(self, attacks=tuple(self.run_attacks), references=("night",),
                       sample_records=self.run_sample_records)

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
        bad = [a for a in self.run_attacks if a not in ATTACKS]
        if bad:
            problems.append(f"run_attacks: unknown attack {bad[0]} ({', '.join(ATTACKS)})")
        if not isinstance(self.every_run, bool):
            problems.append("every_run: must be true or false")
        if not isinstance(self.run_records, int) or isinstance(self.run_records, bool) or \
                (self.run_records != 0 and self.run_records < 1000):
            problems.append("run_records: must be 0 (all) or a whole number of at least 1000")
        if not isinstance(self.run_sample_records, int) or self.run_sample_records < 100:
            problems.append("run_sample_records: must be a whole number of at least 100")
        return problems
