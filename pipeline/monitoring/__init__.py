"""Monitoring: closing the loop from logged traffic back to training.

It owns later-arriving outcomes (`outcomes`), drift between traffic and training data (`drift`, its statistics;
`drift_check`, the report of a window; `drift_report`, its HTML page) and retraining from logged loans whose outcome
is known (`retrain`).
"""
