"""`gpu-check report`: every step's rows joined into one markdown table, in table order; a
step without rows, or a row a step did not get to, says why (timed out, failed, skipped,
from the script's WORK/<step>.status)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from helpers.tools.gpucheck.plan import BLOCK, TABLE_STEPS, DeviceFacts, read_facts
from helpers.tools.gpucheck.rows import Row, read_rows, tflops_text
from helpers.utils.files import read_json
from helpers.utils.io import write_text_atomic


def _status(work: Path, step: str) -> str | None:
    """Why a step has no (complete) result, from the script's WORK/<step>.status
    ("rc limit elapsed" or "skipped ..."); None when it exited 0 or was not run by the script."""
    path = work / f"{step}.status"
    if not path.is_file():
        return None
    text = path.read_text().split()
    if not text or text[0] == "0":
        return None
    if text[0] == "skipped":
        return "skipped: no time left in the script's budget"
    limit = text[1] if len(text) > 1 else "?"
    if text[0] in ("124", "137"):
        return f"timed out after {limit} s (log: {work / f'{step}.log'})"
    return f"exit code {text[0]} (log: {work / f'{step}.log'})"


def collect_rows(work: Path) -> list[Row]:
    """Every step's rows in table order; a step without rows, or a row a step did not get
    to, says why (timed out, failed, skipped)."""
    rows: list[Row] = []
    setup_failed = _status(work, "setup") or not (work / "data.json").is_file()
    if setup_failed:
        why = _status(work, "setup") or "did not finish"
        rows.append(Row("setup", "setup (stores, device)", "synth + prepare", f"failed: {why}",
                        ok=False, order=(0,)))
    for step in TABLE_STEPS:
        got = read_json(work / f"{step}.json")
        why = _status(work, step)
        if got is None:
            rows.append(Row(step, step, "–", f"no result: {why or 'not run'}", ok=False,
                            order=(BLOCK[step], 99, TABLE_STEPS.index(step))))
            continue
        for row in read_rows(got):
            if row.ok is None:
                row = dataclasses.replace(row, ok=False,
                                          result=f"did not finish: {why or 'step stopped'}")
            rows.append(row)
    return sorted(rows, key=lambda r: r.order)


def format_report(work: Path, elapsed: float | None = None) -> tuple[str, bool]:
    """The markdown report (header, table, notes) and whether every row succeeded."""
    facts = read_facts(work) or DeviceFacts()
    rows = collect_rows(work)
    lines = ["# GPU check", ""]
    if facts.dry:
        lines.append("**DRY RUN**: no CUDA device was used, so every step ran at tiny sizes on "
                     "the CPU to check the code path. No figure below says anything about a GPU.")
        lines.append("")
    peak = facts.peak_tflops
    peak_text = (f"bf16 dense peak {peak:,.0f} TFLOP/s (NVIDIA datasheet)" if peak
                 else "bf16 dense peak n/a")
    lines.append(f"device: {facts.device}; {peak_text}; torch {facts.torch} (CUDA {facts.cuda}, "
                 f"cuDNN {facts.cudnn}); {facts.cpus} CPUs; {facts.when}"
                 + (f"; checked in {elapsed:.0f} s" if elapsed is not None else ""))
    lines += ["", "| check | setting | result | TFLOP/s | share of bf16 dense peak |",
              "|---|---|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.check} | {r.setting} | {r.result} | {tflops_text(r.tflops)} | "
                     f"{r.share} |")
    lines += ["", "TFLOP/s counts the matmul and convolution FLOPs of one forward + backward "
              "(`torch.utils.flop_counter`) per measured step time. The EXTRAPOLATED rows are "
              "not measurements: they divide a UCF-101 epoch's items by the items/s of the "
              "measured epoch on the synthetic store (the same per-item work, but the "
              "synthetic epoch's start-up counts in it, and the real trainer holds out groups "
              "22-25 for validation, so a real epoch trains on fewer videos and then "
              "validates)."]
    return "\n".join(lines) + "\n", all(r.ok for r in rows)


def step_report(work: Path, out: Path | None, elapsed: float | None) -> int:
    text, ok = format_report(work, elapsed)
    print(text, end="")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, text)
    return 0 if ok else 1
