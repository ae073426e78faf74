"""`torchrun -m helpers.tools.gpucheck torchrun-worker TRAIN-OPTIONS`: the worker that
`gpu-check torchrun` starts (see `helpers.tools.gpucheck.torchrun`)."""

import sys

from helpers.tools.gpucheck.torchrun import torchrun_worker

if __name__ == "__main__":
    if sys.argv[1:2] != ["torchrun-worker"]:
        sys.exit("usage: torchrun ... -m helpers.tools.gpucheck torchrun-worker TRAIN-OPTIONS")
    sys.exit(torchrun_worker(sys.argv[2:]))
