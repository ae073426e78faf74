"""Reading the report's PDF back: the text of its best/worst, probe and conclusion paragraphs
(pdftotext), checked sentence by sentence against the results they were written from. Shared
by tests/test_report_scale.py (both simulated 101-class scenarios) and its mutation test."""

from __future__ import annotations

import re
import subprocess
import unicodedata

import pandas as pd

from helpers.evaluation import probes
from helpers.evaluation.results import CLIP, FRAME, Results
from helpers.evaluation.stats import HIGHER, LOWER

# "Name (2D 50%, 3D 100%)": a class with the accuracies the sentence rests on
_CLASS_2D_3D = re.compile(r"([A-Z][A-Za-z]+) \(2D (\d+)%, 3D (\d+)%\)")
# "Name (45 points, 12 to 70)": a class with its probe drop and interval
_CLASS_DROP = re.compile(r"([A-Z][A-Za-z]+) \((−?\d+) points, (−?\d+) to (−?\d+)\)")


def pdf_text(pdf) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def normalise(text: str) -> str:
    """One line of text: ligatures unfolded, words broken at a line end joined again."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"(?<=[A-Za-z])-\n(?=[A-Za-z])", "", text)  # "single-frame" reads "singleframe"
    return " ".join(text.split())


def rejoin_names(text: str, names: list[str]) -> str:
    """Class names as printed whole: LaTeX may break "PlayingGuitar" at a line end, which
    pdftotext gives back as "Playing Guitar"."""
    for name in names:
        parts = re.findall(r"[A-Z][a-z]*|[a-z]+|\d+", name)
        if len(parts) > 1:
            text = re.sub(r"\b" + r"\s?".join(map(re.escape, parts)) + r"\b", name, text)
    return text


def _between(text: str, start: str, end: str) -> str:
    """The text from `start` to the first `end` after it (or the end of the text)."""
    i = text.find(start)
    assert i >= 0, f"the PDF has no {start!r}"
    j = text.find(end, i + len(start))
    return text[i:] if j < 0 else text[i:j + len(end)]


def _pts(x: float) -> str:
    return str(round(x * 100)).replace("-", "−")


def check_best_worst(text: str, res: Results) -> int:
    """Classes said to be higher beyond noise (either way) have p < level and an interval
    that excludes zero on that side; every accuracy printed is the result's; shared worst
    classes are below each model's top accuracy."""
    para = _between(text, "Best and worst classes across the three models.", "discrete null).")
    pc = res.per_class.set_index("class")
    named = 0
    for lead, decision, side in (("the 3D model is higher beyond noise on ", HIGHER, "lo"),
                                 ("the singleframe model is higher beyond noise on ", LOWER,
                                  "hi")):
        if lead not in para:
            continue
        clause = para.split(lead, 1)[1].split(";")[0].split(". ")[0]
        for cls, a2, a3 in _CLASS_2D_3D.findall(clause):
            row = pc.loc[cls]
            assert row["decision"] == decision and row["p_value"] < 0.05 and (
                row["lo"] > 0 if side == "lo" else row["hi"] < 0), \
                f"{cls} is printed as higher beyond noise but its test says {row['decision']}"
            assert (int(a2), int(a3)) == (round(row["accuracy_a"] * 100),
                                          round(row["accuracy_b"] * 100)), cls
            named += 1
    if "share" in para and "of their worst classes:" in para:
        clause = para.split("of their worst classes:", 1)[1].split(". ")[0]
        for cls in re.findall(r"([A-Z][A-Za-z]+) \(2D", clause):
            for model in (FRAME, CLIP):
                acc = res.summaries[model].per_class.set_index("class")["accuracy"]
                assert acc[cls] < acc.max(), f"{cls} is a worst class at the top of {model}"
                named += 1
    for model in (FRAME, CLIP):  # every worst list holds only classes below the top
        acc = res.summaries[model].per_class.set_index("class")["accuracy"]
        assert all(acc[c] < acc.max() for c in res.summaries[model].worst_ranked.classes)
    return named


def check_probes(text: str, res: Results, table: pd.DataFrame) -> int:
    """Classes read as needing frame order (or direction) have that reading in probes.csv,
    with the printed drop and interval; the count and the chance count are the table's."""
    para = _between(text, "Spatial or temporal?", "Largest gains of the 3D model")
    t = table.set_index("class")
    needs = t[t["reading"] == probes.NEEDS_ORDER]
    m = re.search(r"(\d+) of (\d+) classes needs? frame order", para)
    assert m, "no sentence on frame order"
    assert (int(m.group(1)), int(m.group(2))) == (len(needs), len(t)), m.group(0)
    named = 0
    order_clause = para[m.end():].split(". ")[0]
    for cls, d, lo, hi in _CLASS_DROP.findall(order_clause):
        assert t.loc[cls, "reading"] == probes.NEEDS_ORDER, f"{cls} is not read as needing order"
        assert (d, lo, hi) == tuple(_pts(t.loc[cls, f"{k}_shuffled"]) for k in
                                    ("dprob", "lo", "hi")), cls
        named += 1
    if "Played backwards," in para and "lose" in para.split("Played backwards,", 1)[1][:40]:
        clause = para.split("Played backwards,", 1)[1].split(". ")[0]
        for cls, *_ in _CLASS_DROP.findall(clause):
            assert t.loc[cls, "verdict_reversed"] == probes.LOSES, cls
            named += 1
    for p in probes.probe_names(table):
        said = f"{probes.chance_losses(table, p):.1f} ({p})"
        # a page break may put the page number between the count and its probe
        pattern = rf"{re.escape(said.split(' (')[0])}\s+(?:\d+\s+)?\({p}\)"
        assert re.search(pattern, para), f"the chance count {said!r} is not the table's"
    assert "hold together" not in para and "Bonferroni" not in para
    if "static" in t.columns and res.synthetic is False:  # UCF-101: the published comparison
        ov = res.probe_overall.set_index("windows")
        cost = f"costs {ov.loc['static', 'drop']:.1%} of top-1 in points"
        assert cost in para, cost
        assert "Choi" not in para
    return named


def check_gains(text: str, res: Results) -> int:
    """The 3D model's largest gains: each class with the accuracies printed, and those said
    to be beyond noise called higher by their test."""
    if "Largest gains of the 3D model:" not in text:
        return 0
    sentence = _between(text, "Largest gains of the 3D model:", ").")
    pc = res.per_class.set_index("class")
    listed = re.findall(r"([A-Z][A-Za-z]+) \((\d+)% → (\d+)%\)", sentence)
    for cls, a, b in listed:
        assert (int(a), int(b)) == (round(pc.loc[cls, "accuracy_a"] * 100),
                                    round(pc.loc[cls, "accuracy_b"] * 100)), cls
    if "each beyond noise" in sentence or "(beyond noise)" in sentence:
        beyond = [c for c, *_ in listed]
    elif "beyond noise: " in sentence:
        beyond = re.findall(r"[A-Z][A-Za-z]+", sentence.split("beyond noise: ", 1)[1]
                            .split("; the rest")[0])
    else:
        beyond = []
    for cls in beyond:
        assert pc.loc[cls, "decision"] == HIGHER, f"{cls} is printed as a gain beyond noise"
    return len(listed)


def check_conclusion(text: str, res: Results) -> int:
    """The conclusion's counts and chance count equal the results'."""
    m = re.search(r"Beyond noise, the 3D model is better on (\d+) of (\d+) classes and worse "
                  r"on (\d+); on the other (\d+) a difference is not shown beyond noise\. Each "
                  r"class is tested on its own: were no class different, chance alone would "
                  r"make about ([\d.]+) such calls\.", text)
    assert m, "the conclusion's class counts are missing"
    pc = res.per_class.dropna(subset=["gain"])
    won, lost = int((pc["decision"] == HIGHER).sum()), int((pc["decision"] == LOWER).sum())
    assert tuple(int(g) for g in m.groups()[:4]) == (won, len(pc), lost, len(pc) - won - lost)
    assert m.group(5) == f"{res.class_tests.clip_vs_frame.chance_calls:.1f}"
    return 1


def check_report_text(raw: str, res: Results, table: pd.DataFrame, *,
                      probes_paragraph: bool = True) -> dict[str, int]:
    """All three checks on the text of a report (a PDF's, or the prose itself); the probe
    paragraph is required unless `probes_paragraph` is False."""
    text = rejoin_names(normalise(raw), res.class_names).replace("single-frame", "singleframe")
    named = check_best_worst(text, res)
    if probes_paragraph:
        named += check_probes(text, res, table)
    named += check_gains(text, res) if probes_paragraph else 0
    named += check_conclusion(text, res)
    return {"named": named}
