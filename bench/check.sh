#!/usr/bin/env bash
# `countersign check` on a 50-commit, 500-file change in a 200,000-commit repository (bench/README.md, performance targets:
# under 100 ms).
#
#   bench/check.sh                  # 10 timed runs after one warm-up
#   RUNS=30 bench/check.sh
#
# Uses the repository that scan-vs-git-log.sh generates (bench/.cache/, created here if missing):
# `feature` branches off main's tip with 50 commits modifying 500 distinct files, partly
# AI-assisted, by a junior engineer, across tier-0 services. The gate blocks it (exit 1), which is
# the expected answer; exit 2 fails the benchmark. Timing is done by python3 (perf_counter around
# each process, peak RSS from getrusage, in timing.py); hyperfine is not needed.
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS="${RUNS:-10}"
need_binary
REPO="$(ensure_repo)"
CMD=("$COUNTERSIGN" check --repo "$REPO" --base main --head feature --format json)

echo "repository: $REPO ($(git -C "$REPO" rev-list --count main) commits on main)"
echo "change: main..feature, $(git -C "$REPO" rev-list --count main..feature) commits, $(git -C "$REPO" diff --name-only main...feature | wc -l) files"
echo "command: countersign check --repo R --base main --head feature --format json"

# The same commits read by git, each with its diff: the in-run reference for a host's speed.
REFERENCE="git -C '$REPO' log --numstat --format='%H%x00%an%x00%ae%x00%B' main..feature" \
  python3 "$BENCH_DIR/timing.py" "$RUNS" 100 "${CMD[@]}"
