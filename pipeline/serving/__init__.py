"""Serving: putting a model to work and choosing which one.

It owns the HTTP scoring service (`app`), the prediction log (`telemetry`), batch scoring (`predict`) and the model
registry in GTO's format, with promotion and rollback (`registry`).
"""
