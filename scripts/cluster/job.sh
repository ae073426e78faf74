# shellcheck shell=bash
# shellcheck disable=SC2153  # SPLIT, PROFILE, DATA ... are set by the script that sources this
# The body of the UCF-101 batch job, sourced by ucf101.slurm and ucf101.pbs after their
# settings, REPO, JOB_ID, `requeue_job` (the scheduler's own requeue), `follow_on_job` (a
# new job that starts when this one has ended), RESUBMIT (the command a person runs when
# both are refused) and, where the scheduler sends no warning signal, WARN_AFTER (seconds);
# not a job script of its own. Bash 4.2 (RHEL/CentOS 7) is enough.
#
# It runs `python -m helpers report` with the smoke run first (once: skipped when it passed
# before), then the full report. The scheduler's warning signal (USR1) creates the stop file
# ($UCF_STOP_FILE): the pipeline stops at its next step boundary, saves, and exits with 75
# (helpers.errors.STOPPED_EXIT); the job then requeues itself, and its next run resumes.
# A step that cannot stop in time (an evaluation, the store) is requeued STOP_GRACE seconds
# after the signal all the same: the requeue kills it, and it starts that step again.
# Without TeX on the node the report still computes everything and exits 0; its last line
# is the command (`make pdf RUN=...`) that renders the PDF on a login node.

set -u
STOPPED=75
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
STORES=${STORES:-$SCRATCH_DIR/stores}
export UCF_RUNS_DIR=${RUNS:-$SCRATCH_DIR/runs}
STOP_GRACE=${STOP_GRACE:-240}
MAX_REQUEUES=${MAX_REQUEUES:-20}
# one submission = the first job and the requeues and follow-on jobs that continue it
export UCF_SUBMISSION=${UCF_SUBMISSION:-$JOB_ID}
[ -n "${WORKERS:-}" ] && export UCF_WORKERS=$WORKERS
cd "$REPO" || exit 1
mkdir -p "$UCF_RUNS_DIR" "$STORES" || exit 1

export UCF_STOP_FILE="$UCF_RUNS_DIR/.stop-$JOB_ID"
requeued="$UCF_RUNS_DIR/.requeued-$JOB_ID"
requeues="$UCF_RUNS_DIR/.requeues-$UCF_SUBMISSION"
smoke_passed="$UCF_RUNS_DIR/.smoke-passed-$PROFILE-split$SPLIT"
rm -rf "$UCF_STOP_FILE" "$requeued"

say() { echo "job $JOB_ID: $*"; }

requeue_once() {
    # once per run of the job, whoever asks first (the exit code or the grace timer)
    mkdir "$requeued" 2>/dev/null || return 0
    local n
    n=$(( $(cat "$requeues" 2>/dev/null || echo 0) + 1 ))
    if [ "$n" -gt "$MAX_REQUEUES" ]; then
        say "stopped, but not requeued: this submission was requeued $MAX_REQUEUES times" \
            "(MAX_REQUEUES); submit the job again to continue: cd $REPO && $RESUBMIT"
        return 1
    fi
    echo "$n" > "$requeues"
    say "requeueing (requeue $n of at most $MAX_REQUEUES); the next run resumes"
    requeue_job && return 0
    say "the site refused the requeue; submitting a job that continues once this one ends"
    follow_on_job && return 0
    say "the site refused the requeue and the follow-on job, so nothing is queued; to" \
        "resume, run on the login node: cd $REPO && $RESUBMIT"
    return 1
}

stop_asked=0 interrupted=0 timer='' warning_timer=''
on_warning() {
    interrupted=1
    [ "$stop_asked" = 1 ] && return
    stop_asked=1
    say "warning signal: the pipeline stops at its next step boundary"
    : > "$UCF_STOP_FILE"
    ( sleep "$STOP_GRACE" & nap=$!
      trap 'kill "$nap" 2>/dev/null; exit 0' TERM
      wait "$nap"
      say "the pipeline did not stop within ${STOP_GRACE}s; requeueing now (finished" \
          "steps are kept)"
      requeue_once ) &
    timer=$!
}
trap on_warning USR1
# shellcheck disable=SC2086  # the timers' ids, unquoted: either may be empty
trap 'kill $timer $warning_timer 2>/dev/null; rm -f "$UCF_STOP_FILE"' EXIT
if [ -n "${WARN_AFTER:-}" ]; then  # the warning the scheduler does not send
    ( sleep "$WARN_AFTER" & nap=$!
      trap 'kill "$nap" 2>/dev/null; exit 0' TERM
      wait "$nap"
      kill -USR1 $$ ) &
    warning_timer=$!
fi

args=(--profile "$PROFILE" --split "$SPLIT" --stores "$STORES")
[ -n "$DATA" ] && args+=(--data "$DATA")
[ -n "${SPLITS:-}" ] && args+=(--splits "$SPLITS")
[ -n "$WEIGHTS" ] && args+=(--weights "$WEIGHTS")
[ -n "$IMAGENET_WEIGHTS" ] && args+=(--imagenet-weights "$IMAGENET_WEIGHTS")
[ -n "${GPUS:-}" ] && args+=(--gpus "$GPUS")  # else the GPUs the allocation holds
extra=()
read -r -a extra <<< "$REPORT_ARGS"
# bash < 4.4 calls an empty "${extra[@]}" unbound under set -u: the ${..+..} form is safe
args+=(${extra[@]+"${extra[@]}"})

report() {
    # in the background, so that the trap runs as soon as the signal comes
    say "$PYTHON -m helpers report $*"
    "$PYTHON" -m helpers report "$@" &
    local child=$! rc
    while :; do
        interrupted=0
        wait "$child"
        rc=$?
        [ "$interrupted" = 1 ] || break  # else the signal ended the wait, not the report
    done
    return "$rc"
}

finish() {  # after a report that did not succeed: requeue when it stopped, else fail
    local rc=$1
    if [ "$rc" = "$STOPPED" ] || { [ "$stop_asked" = 1 ] && [ "$rc" -gt 128 ]; }; then
        requeue_once && exit 0
        exit "$STOPPED"
    fi
    say "the report failed (exit code $rc); not requeued: fix the cause and submit again"
    exit "$rc"
}

say "on $(hostname); split $SPLIT; runs in $UCF_RUNS_DIR, stores in $STORES"
if [ "$SMOKE" = 1 ] && [ ! -e "$smoke_passed" ]; then
    smoke_args=()  # a smoke run checks the real data: never --fast
    for a in "${args[@]}"; do [ "$a" = --fast ] || smoke_args+=("$a"); done
    report "${smoke_args[@]}" --smoke
    rc=$?
    [ "$rc" = 0 ] || finish "$rc"
    touch "$smoke_passed"
    say "smoke run passed (delete $smoke_passed to run it again)"
fi
report "${args[@]}"
rc=$?
[ "$rc" = 0 ] || finish "$rc"
rm -f "$requeues"
say "report finished"
