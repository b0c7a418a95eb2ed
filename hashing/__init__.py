"""Agency-side keyed Bloom-filter encoding (issue 4).

Not built yet: this package will hold ``encode_extract`` and ``LinkageKey``. Nothing in the
pipeline calls it until then, and the nightly flow says so in its run summary.
"""

__all__: list[str] = []
