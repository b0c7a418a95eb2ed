"""Linkage side: blocking, comparison, Fellegi-Sunter model, persons and families.

It reads only encoded extracts (``linkage.inputs.read_night`` through
``data_contracts.encoded``), never a raw extract. ``linkage.link.link_records`` strings
the steps together: ``blocking`` (candidate pairs), ``compare`` (agreement levels from the
hardened filters), ``model`` (the three-class Fellegi-Sunter model and the threshold),
``family`` (context for guardians and contacts) and ``cluster`` (constraints, persons,
families, communities). ``plaintext`` is the benchmark's twin of ``compare``.
"""

__all__: list[str] = []
