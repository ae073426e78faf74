"""Reporting: the report's tables (tables), its sentences (prose), its figures (plots) and
the PDF (render). The numbers they present come from `helpers.evaluation.results`."""
