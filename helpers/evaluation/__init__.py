"""Evaluation: predictions files, metrics, statistics, fusion, temporal probes, and the
results of a run that the report presents (results)."""
