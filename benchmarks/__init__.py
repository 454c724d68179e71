"""Benchmarks against the anchors (DVC, pre-commit, bare scikit-learn): `python -m benchmarks [--quick]`."""
