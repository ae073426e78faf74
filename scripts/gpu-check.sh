#!/usr/bin/env bash
# One prepared check for a GPU node (one H100/H200), run from the repository root:
#
#     bash scripts/gpu-check.sh
#
# In at most about 8 minutes it measures train-step throughput of ResNet-50 224² and R3D-50
# 16×112² (bf16, channels_last, eager and torch.compile; items/s, TFLOP/s, share of the bf16
# peak), a few training steps under `torchrun --nproc_per_node=1` (NCCL), the frame and clip
# loaders with 12 workers, and one short epoch of the ucf101 profile per model, extrapolated
# to a UCF-101 epoch. It prints one markdown table and writes it to runs/gpu-check.md; stores,
# runs and one log per step go to runs/gpu-check/.
#
# Without CUDA it says so and runs a tiny dry run of the same code path (about a minute).
# Environment: GPU_CHECK_DIR (work folder; the table goes to $GPU_CHECK_DIR.md),
# GPU_CHECK_DRY_RUN=1 (dry run even on a GPU), GPU_CHECK_BUDGET (seconds, default 480).
# The logic is helpers/tools/gpucheck/ (one module per step): `python -m helpers gpu-check --help`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
WORK=${GPU_CHECK_DIR:-runs/gpu-check}
BUDGET=${GPU_CHECK_BUDGET:-480}
RESERVE=20  # seconds kept for the report and the kill grace of a step that overruns
export UCF_NO_PROGRESS=1 PYTHONUNBUFFERED=1

mkdir -p "$WORK"
rm -f "$WORK"/*.status "$WORK"/*.log "$WORK"/notice.txt  # an earlier check's; setup clears the rest

# step NAME SECONDS [OPTIONS]: one `python -m helpers gpu-check NAME` under `timeout`, its
# limit cut to what is left of the budget; "rc limit elapsed" goes to $WORK/NAME.status.
step() {
    local name=$1 want=$2 left rc=0 start=$SECONDS
    shift 2
    left=$((BUDGET - RESERVE - SECONDS))
    if ((left < 15)); then
        echo "skipped 0 0" >"$WORK/$name.status"
        echo "  $name: skipped (no time left in the ${BUDGET} s budget)"
        return 0
    fi
    local limit=$((want < left ? want : left))
    timeout --kill-after=5 "$limit" "$PY" -m helpers gpu-check "$name" --work-dir "$WORK" \
        --limit "$limit" "$@" >"$WORK/$name.log" 2>&1 || rc=$?
    echo "$rc $limit $((SECONDS - start))" >"$WORK/$name.status"
    if ((rc == 0)); then
        echo "  $name: done in $((SECONDS - start)) s"
    else
        echo "  $name: exit code $rc after $((SECONDS - start)) s (limit $limit s); log: $WORK/$name.log"
        tail -n 3 "$WORK/$name.log" | sed 's/^/      /'
    fi
}

dry=()
if [[ ${GPU_CHECK_DRY_RUN:-0} == 1 ]]; then
    dry=(--dry-run)
    export CUDA_VISIBLE_DEVICES=""  # the trainer would otherwise pick the GPU up
fi
echo "gpu-check: logs and stores in $WORK/, table in $WORK.md"
# A step's own limit only stops a hung step early; the budget bounds the whole check.
step setup 120 ${dry[@]+"${dry[@]}"}
[[ -f $WORK/notice.txt ]] && cat "$WORK/notice.txt"
if [[ -f $WORK/data.json ]]; then
    step train 120
    step torchrun 120
    step loaders 90
    step epoch 150
    step compile 300  # last: it gets whatever time the others left
fi
"$PY" -m helpers gpu-check report --work-dir "$WORK" --out "$WORK.md" --elapsed "$SECONDS"
