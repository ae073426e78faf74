"""The prose package's shape (helpers.reporting.prose): every public name the notebooks and
callers import is re-exported, each module is short, and the English helpers that moved out of
the old single module behave (the paragraphs themselves are tested in test_prose.py, one
section per module: method_text, answers, motion_text, head_text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.reporting import prose
from helpers.reporting.prose import answers, english, head_text, method_text, motion_text

MODULES = (english, method_text, answers, motion_text, head_text)


def test_every_exported_name_resolves_and_is_defined_in_a_module():
    assert sorted(prose.__all__) == sorted(set(prose.__all__))
    for name in prose.__all__:
        obj = getattr(prose, name)
        assert any(getattr(m, name, None) is obj for m in MODULES), name


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_each_module_is_under_500_lines(module):
    assert Path(module.__file__).read_text().count("\n") < 500


def test_english_helpers():
    assert english.or_list(["a"]) == "a"
    assert english.or_list(["a", "b", "c"]) == "a, b, or c"
    assert english.pts(-0.123) == "−12" and english.pts(-0.001) == "0"
    assert english.verb(1, "is", "are") == "is" and english.verb(2, "is", "are") == "are"
    assert english.capped(list("abcd"), 3) == "a, b, c and d"  # one more: all named
    assert english.capped(list("abcde"), 3) == "a, b, c and 2 more"
    assert english.or_nan(None) != english.or_nan(None) and english.or_nan(0.5) == 0.5


def test_module_sentences_without_data():
    assert head_text.head_result.__module__ == head_text.__name__
    assert "from scratch" in method_text.provenance(None, None, None)
    assert motion_text.NO_PROBES.startswith("This run has no temporal probes")
