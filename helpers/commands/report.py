"""`python -m helpers report`: run notebooks 01-04 and render the PDF, for one split or
several (argparse wiring only; the work is `helpers.workflow.report`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from helpers.config import NORMS, PROFILES, PROTOCOLS
from helpers.errors import UserError
from helpers.utils.allocation import resolve_gpus
from helpers.utils.argtypes import from_user_check, positive_int
from helpers.workflow.multisplit import parse_splits

if TYPE_CHECKING:
    from helpers.workflow.pipeline import Setup


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=tuple(PROFILES), default="demo",
                        help="demo: synthetic data on CPU (default); ucf101: the real assignment")
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="UCF-101 folder or the course's HDF5 tree (default: the synthetic "
                             "benchmark)")
    parser.add_argument("--splits", metavar="DIR", default=None,
                        help="folder with classInd.txt, trainlist0k.txt, testlist0k.txt "
                             "(default: found inside --data)")
    parser.add_argument("--run", metavar="RUN", default=None,
                        help="run name under runs/ or a folder path (default: runs/<profile>)")
    parser.add_argument("--split", type=from_user_check(parse_splits), default=(1,),
                        metavar="K|all|1,3",
                        help="UCF-101 split: 1 (default), 2 or 3; `all` or a list such as 1,3 "
                             "runs each into its own run folder, then the summary over them")
    parser.add_argument("--protocol", choices=PROTOCOLS, default=None,
                        help="holdout: the models trained without the held-out groups are the "
                             "reported ones; refit: the reported models are trained again on "
                             "every training video with the held-out models' schedule (default: "
                             "the profile's, holdout for demo, refit for ucf101)")
    parser.add_argument("--smoke", action="store_true",
                        help="check the whole path on a few videos of --data at the real sizes, "
                             "then forecast the full run's disk and time")
    parser.add_argument("--weights", metavar="PATH", default=None,
                        help="the clip model's Kinetics file (default: the profile's, "
                             "data/weights/r3d50_K_200ep.pth)")
    parser.add_argument("--imagenet-weights", metavar="PATH", default=None,
                        help="a torchvision-format ResNet-50 file instead of the hub cache")
    parser.add_argument("--norm", choices=NORMS, default=None,
                        help="the clip model's input normalisation, for a file that breaks the "
                             "detection rule (module. prefix or 400 classes = kinetics-old)")
    parser.add_argument("--stores", metavar="DIR", default=None,
                        help="where the frame stores go (default: data/stores; they need tens "
                             "of GB for UCF-101)")
    parser.add_argument("--cpu", action="store_true",
                        help="run the ucf101 profile on the CPU on purpose (without it, a "
                             "machine with no working GPU stops the run with the reason)")
    parser.add_argument("--batch-size", metavar="N", default=None,
                        help="global batch of both models, or 'frame=128,clip=32' "
                             "(default: the profile's)")
    parser.add_argument("--accum-steps", metavar="K", type=positive_int, default=None,
                        help="split each batch into K micro-batches: same batch, less GPU "
                             "memory (default: the profile's)")
    parser.add_argument("--no-amp", action="store_true",
                        help="train and evaluate in fp32 on CUDA (default: bf16 autocast)")
    parser.add_argument("--download-weights", action="store_true",
                        help="let torchvision download missing ImageNet weights (needs internet)")
    parser.add_argument("--gpus", metavar="N", type=positive_int, default=None,
                        help="processes per node, one per GPU: more than 1 trains and "
                             "evaluates under torchrun (DDP); inside a SLURM allocation of "
                             "several nodes, on every node (without CUDA: N gloo processes; "
                             "default: the GPUs the allocation holds, else 1)")
    parser.add_argument("--fast", action="store_true", help="tiny test-only configuration")
    parser.add_argument("--only", metavar="01,02,...", default=None,
                        help="run only these stages; the PDF is rendered only when 04 runs")
    parser.add_argument("--kernel", metavar="NAME", default=None,
                        help="Jupyter kernel (default: ucf101 if it runs this Python, else "
                             "python3)")
    parser.add_argument("--pdf", metavar="PATH", default=None,
                        help="where to write the PDF (default: report/report.pdf; "
                             "report-smoke.pdf or report-fast.pdf for those runs; split k "
                             "other than 1 adds -split<k> to the name)")
    parser.add_argument("--no-pdf", action="store_true",
                        help="compute every result but leave the PDF pending, to render "
                             "later with `make pdf RUN=<run>` (several splits: the summary "
                             "is rendered all the same)")


def setup_from_args(args: argparse.Namespace) -> Setup:
    from helpers.workflow.pipeline import Setup

    return Setup(profile=args.profile, data_dir=args.data or "", splits_dir=args.splits or "",
                 run_dir=args.run or "", split=args.split[0],
                 download_weights=args.download_weights, fast=args.fast, smoke=args.smoke,
                 weights=args.weights or "", imagenet_weights=args.imagenet_weights or "",
                 norm=args.norm or "", stores_dir=args.stores or "",
                 protocol=args.protocol or "", cpu=args.cpu,
                 batch_size=args.batch_size or "", accum_steps=args.accum_steps or 0,
                 amp=not args.no_amp, gpus=resolve_gpus(args.gpus))


def run(args: argparse.Namespace) -> int:
    from helpers.workflow.report import build_report, report_splits  # torch: not for --help

    if len(args.split) > 1 and args.only:
        raise UserError("--only runs some stages of one split; with several splits, run each "
                        "split's stages with --split K.")
    setup = setup_from_args(args)
    pdf = Path(args.pdf) if args.pdf else None  # with several splits: split 1's, the rest derived
    if len(args.split) > 1:
        out = report_splits(setup, args.split, pdf=pdf, kernel_name=args.kernel,
                            render=not args.no_pdf)
    else:
        only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
        out = build_report(setup, only=only, pdf=pdf, kernel_name=args.kernel,
                           render=not args.no_pdf)
    print(f"wrote {out}")
    return 0
