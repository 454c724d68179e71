"""Serving: putting a model to work and choosing which one.

It owns the HTTP scoring service (`app`, started by `server`), the prediction log (`telemetry`), batch scoring
(`predict`), the model registry in GTO's format (`registry`) and promotion and rollback through the gate (`deploy`).
"""
