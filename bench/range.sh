#!/usr/bin/env bash
# `countersign check` of a deployment range of 50 merged pull requests on the 200,000-commit
# repository (bench/README.md, performance targets: under 300 ms). The range is cut into its 50
# merged changes and each is read, analysed and decided on its own.
#
#   bench/range.sh                  # 10 timed runs after one warm-up
#   RUNS=30 MERGES=100 bench/range.sh
#
# Builds, once, a clone of the repository of scan-vs-git-log.sh (bench/.cache/) whose `deploy`
# branch adds MERGES merge commits (`git merge --no-ff`) on top of main, each merging a branch of
# two commits that edit one or two existing files; half of them are AI-assisted. Nobody approved
# them, so the gate blocks (exit 1), the expected answer; exit 2 fails the benchmark.
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS="${RUNS:-10}"
MERGES="${MERGES:-50}"
need_binary
REPO="$(ensure_repo)"
CLONE="${REPO%.git}-merges-${MERGES}"
if [[ ! -f "$CLONE/bench-complete" ]]; then
  rm -rf "$CLONE"
  echo "building $MERGES merges into $CLONE ..." >&2
  git clone -q --shared --branch main "$REPO" "$CLONE"
  git() { command git -C "$CLONE" -c user.name="Igor Wójcik" -c user.email=igor.wojcik@acme-corp.example "$@"; }
  git checkout -q -b deploy
  mapfile -t FILES < <(git ls-files services libs | awk 'NR % 61 == 0')
  for i in $(seq 1 "$MERGES"); do
    git checkout -q -b "pr-$i" deploy
    for step in 1 2; do
      file="${FILES[$(((i * 7 + step * 13) % ${#FILES[@]}))]}"
      printf '# change %s.%s\n' "$i" "$step" >> "$CLONE/$file"
      trailer=""
      (( i % 2 == 0 )) && trailer=$'\n\nCo-Authored-By: Claude <noreply@anthropic.com>'
      git commit -q -am "Change $i, step $step$trailer"
    done
    git checkout -q deploy
    git merge -q --no-ff "pr-$i" -m "Merge pull request #$i from shop/pr-$i"
  done
  date -u +%FT%TZ > "$CLONE/bench-complete"
fi
BASE="$(command git -C "$CLONE" rev-parse main)"
CMD=("$COUNTERSIGN" check --repo "$CLONE" --base "$BASE" --head deploy --format json)
echo "repository: $CLONE ($(command git -C "$CLONE" rev-list --count deploy) commits on deploy)"
echo "range: main..deploy, $(command git -C "$CLONE" rev-list --count --merges main..deploy) merges, $(command git -C "$CLONE" rev-list --count main..deploy) commits"
echo "command: countersign check --repo R --base MAIN --head deploy --format json"
python3 "$BENCH_DIR/timing.py" "$RUNS" 300 "${CMD[@]}"
