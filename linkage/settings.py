"""Linkage settings (``[linkage]`` in ``configs/default.toml``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LinkageSettings:
    """``[linkage]``: see ``configs/default.toml`` for each setting.

    Attributes:
        max_block: largest block a blocking rule expands into pairs.
        rule_max_block: a smaller cap for some rules, by rule name.
        threshold: match probability a link needs; 0 chooses it from the fitted model.
        expected_matches: matching record pairs expected in a night; 0 estimates it.
        random_pairs: random record pairs that estimate ``u``.
        seed: seed of the random pairs (runs are reproducible).
        unique_id_agencies: agencies (files) whose primary record ids each name one person,
            besides the records whose agency's contract declares it (``id_unique``, the
            DJS youth ids and DPSCS sids): for files without a contract, as the benchmarks'
            FEBRL files; none for the three agencies.
        within_families: the second pass, inside the families the first one made
            (:func:`linkage.family.within_family_pairs`, :func:`linkage.model.relatives_model`).
        check_persons: compare every pair inside each person the clustering made and
            split the persons where two records conflict (no chaining through a record
            that carries little).
        comparison: ``encoded`` (always, in a run); ``plaintext`` only in benchmarks that
            measure what linking on encodings costs.
    """

    max_block: int = 200
    rule_max_block: dict[str, int] = field(default_factory=lambda: {"name": 50})
    threshold: float = 0.0
    expected_matches: float = 0.0
    random_pairs: int = 300_000
    seed: int = 0
    unique_id_agencies: tuple[str, ...] = ()
    within_families: bool = True
    check_persons: bool = True
    comparison: str = "encoded"

    def validate(self) -> list[str]:
        """Problems with the settings, as ``key: what is wrong`` strings."""
        problems = []
        if self.max_block < 2:
            problems.append("max_block: must be at least 2")
        for rule, cap in self.rule_max_block.items():
            if not isinstance(cap, int) or cap < 2:
                problems.append(f"rule_max_block.{rule}: must be a whole number of at least 2")
        if not 0 <= self.threshold < 1:
            problems.append("threshold: must be 0 (automatic) or a probability below 1")
        if self.expected_matches < 0:
            problems.append("expected_matches: must be 0 (estimate) or positive")
        if self.comparison != "encoded":
            problems.append("comparison: a run compares encodings only (the linkage side "
                            "never holds plaintext; plaintext is for benchmarks)")
        if self.random_pairs < 10_000:
            problems.append("random_pairs: must be at least 10000")
        return problems
