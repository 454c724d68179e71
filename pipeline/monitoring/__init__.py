"""Monitoring: closing the loop from logged traffic back to training.

It owns drift between traffic and training data (`drift`, and its HTML page `drift_report`) and retraining from
logged loans whose outcome is known (`retrain`).
"""
