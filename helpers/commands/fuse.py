"""`python -m helpers fuse`: fit every fusion method on validation predictions and apply it
to test predictions (argparse wiring only; the methods are `helpers.evaluation.fusion`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from helpers.errors import UserError
from helpers.evaluation.fusion import check_disjoint, evaluate_fusion, fit_fusion
from helpers.evaluation.metrics import to_markdown
from helpers.evaluation.predictions import load
from helpers.utils.io import write_json_atomic


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--a", required=True, type=Path, metavar="PRED2D.h5",
                        help="test predictions of the first model (the 2D frame model)")
    parser.add_argument("--b", required=True, type=Path, metavar="PRED3D.h5",
                        help="test predictions of the second model (the 3D clip model)")
    parser.add_argument("--val-a", required=True, type=Path, metavar="VAL2D.h5",
                        help="validation predictions of the first model (fit data)")
    parser.add_argument("--val-b", required=True, type=Path, metavar="VAL3D.h5",
                        help="validation predictions of the second model (fit data)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder for fused_<method>.h5 and fusion.json")
    parser.add_argument("--weight-step", type=float, default=0.05,
                        help="grid step of the weighted mean's weight (default 0.05)")
    parser.add_argument("--folds", type=int, default=3,
                        help="cross-validation folds within the validation set (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="fold seed when videos have no groups")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.weight_step <= 1:
        raise UserError(f"--weight-step must be in (0, 1], got {args.weight_step}.")
    if args.folds < 2:
        raise UserError(f"--folds must be at least 2, got {args.folds}.")
    val_a, val_b = load(args.val_a), load(args.val_b)
    test_a, test_b = load(args.a), load(args.b)
    for val in (val_a, val_b):
        for test in (test_a, test_b):
            check_disjoint(val, test)
    fit = fit_fusion(val_a, val_b, weight_step=args.weight_step, n_folds=args.folds,
                     seed=args.seed)
    table, fused = evaluate_fusion(fit, test_a, test_b)
    args.out.mkdir(parents=True, exist_ok=True)
    for m, pred in fused.items():
        pred.save(args.out / f"fused_{m}.h5")
    report = fit.to_json()
    report["inputs"] = {"a": str(args.a), "b": str(args.b),
                        "val_a": str(args.val_a), "val_b": str(args.val_b)}
    report["test"] = json.loads(table.to_json(orient="records"))
    write_json_atomic(args.out / "fusion.json", report)
    print(to_markdown(table))
    print(f"\nchosen on validation: {fit.chosen}; wrote {len(fused)} fused predictions "
          f"files and fusion.json to {args.out}")
    return 0
