"""Reporting: the analysis of a run, its tables, its prose and its figures."""
