"""Linkage side: blocking, comparison, Fellegi-Sunter model, persons and families (issue 5).

Not built yet. It will read only encoded extracts through ``data_contracts.encoded``,
never a raw extract.
"""

__all__: list[str] = []
