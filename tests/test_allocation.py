"""GPUs and loader workers from the scheduler's allocation (helpers.utils.allocation)."""

from __future__ import annotations

import pytest

from helpers.errors import UserError
from helpers.utils.allocation import (
    allocated_cpus,
    allocated_gpus,
    loader_workers,
    resolve_gpus,
)


@pytest.mark.parametrize("env, gpus", [
    ({}, None),
    ({"SLURM_GPUS_ON_NODE": "4", "CUDA_VISIBLE_DEVICES": "0"}, 4),  # SLURM first
    ({"SLURM_JOB_GPUS": "0,1,3"}, 3),
    ({"PBS_JOBID": "7.pbs", "NGPUS": "2"}, 2),
    ({"NGPUS": "2"}, None),  # not inside a PBS job
    ({"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-bb"}, 2),
    ({"CUDA_VISIBLE_DEVICES": ""}, 0),
    ({"CUDA_VISIBLE_DEVICES": "-1"}, 0),
])
def test_gpus_of_the_allocation(env, gpus):
    assert allocated_gpus(env) == gpus


def test_torque_gpu_file(tmp_path):
    (tmp_path / "gpus").write_text("node1-gpu0\nnode1-gpu1\n")
    assert allocated_gpus({"PBS_GPUFILE": str(tmp_path / "gpus")}) == 2


def test_gpus_default_to_the_allocation_and_a_larger_request_is_refused():
    assert resolve_gpus(None, {"SLURM_GPUS_ON_NODE": "2"}) == 2
    assert resolve_gpus(None, {}) == 1
    assert resolve_gpus(None, {"CUDA_VISIBLE_DEVICES": ""}) == 1  # none: one process (CPU)
    assert resolve_gpus(1, {"SLURM_GPUS_ON_NODE": "2"}) == 1
    assert resolve_gpus(4, {}) == 4  # nothing to check against: torch checks the node later
    with pytest.raises(UserError, match=r"^GPUS=4 asks for 4 GPUs per node, but the allocation "
                       r"holds 2 \(SLURM_GPUS_ON_NODE\); use GPUS=2, or ask the scheduler "
                       r"for 4 \(#SBATCH --gres=gpu:4, #PBS ngpus=4\)\.$"):
        resolve_gpus(4, {"SLURM_GPUS_ON_NODE": "2"})


def test_loader_workers_share_the_allocations_cpus():
    slurm = {"SLURM_CPUS_PER_TASK": "16"}
    assert allocated_cpus(slurm) == 16
    assert allocated_cpus({"PBS_JOBID": "1", "NCPUS": "12"}) == 12
    assert loader_workers(8, 4, slurm) == 4  # GPUS=4 on 16 CPUs: 16 workers, not 32
    assert loader_workers(8, 1, slurm) == 8  # never more than the profile asks
    assert loader_workers(8, 32, slurm) == 1
    assert loader_workers(0, 1, slurm) == 0  # in-process loading stays so
    assert loader_workers(8, 4, {**slurm, "UCF_WORKERS": "6"}) == 6
    with pytest.raises(UserError, match=r"^WORKERS=many must be a whole number"):
        loader_workers(8, 1, {"UCF_WORKERS": "many"})
    assert allocated_cpus({}) >= 1  # the affinity mask
