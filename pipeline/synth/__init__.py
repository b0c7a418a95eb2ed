"""Synthetic agency extracts with ground truth (``sst-link synth``)."""
