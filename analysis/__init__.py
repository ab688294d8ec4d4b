"""Experiments and analysis built on the tabular kernels (``python -m analysis.<name>``)."""
