"""Lending-risk pipeline: DVC stages, the params schema and the `mlops` CLI."""
