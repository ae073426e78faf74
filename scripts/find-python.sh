#!/bin/sh
# Print the Python that creates .venv: $1 (PYTHON=) when given, else the newest python3.X
# on PATH that meets the floor (the pinned numpy and scipy need 3.11; pyproject.toml's
# requires-python says the same). Stops in one sentence, before any pip, when none does.
FLOOR_MAJOR=3
FLOOR_MINOR=11

version() {  # "3.9" for a Python that runs, else nothing
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

meets() {
    major=${1%%.*}
    minor=${1#*.}
    [ "$major" -gt "$FLOOR_MAJOR" ] ||
        { [ "$major" -eq "$FLOOR_MAJOR" ] && [ "$minor" -ge "$FLOOR_MINOR" ]; }
}

if [ -n "${1:-}" ]; then
    candidates=$1
else
    candidates="python3.14 python3.13 python3.12 python3.11 python3"
fi
found=
for cand in $candidates; do
    command -v "$cand" >/dev/null 2>&1 || continue
    v=$(version "$cand")
    [ -n "$v" ] || continue
    if meets "$v"; then
        command -v "$cand"
        exit 0
    fi
    [ -n "$found" ] || found="$cand is Python $v"
done
echo "error: the project needs Python $FLOOR_MAJOR.$FLOOR_MINOR or newer, but ${found:-none of $candidates is on PATH}; load a newer one (e.g. module load python/3.11) or name it: make ... PYTHON=/path/to/python3.11" >&2
exit 1
