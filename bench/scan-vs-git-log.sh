#!/usr/bin/env bash
# `countersign scan` against `git log` over the same history, in one run (bench/README.md, performance targets).
#
#   bench/scan-vs-git-log.sh            # 200,000 commits, best of 3
#   COMMITS=20000 REPS=5 bench/scan-vs-git-log.sh
#   REPO=/path/to/a/clone REV=HEAD bench/scan-vs-git-log.sh   # any repository, e.g. a fresh clone of git/git
#
# The repository is generated once by gen-history.py into bench/.cache/ (fast-import, then
# `git repack -adf`, packed refs and a commit-graph, like a clone that `git gc` has run on) and
# reused. Each round runs every command once (interleaved, after one untimed warm-up of each);
# the table shows the best and the median wall time, peak RSS and CPU time. The pass is repeated
# without the commit-graph (a fresh clone has none) unless NO_GRAPH_PASS=1.
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPS="${REPS:-3}"
need_binary
REV="${REV:-main}"
if [[ -z "${REPO:-}" ]]; then REPO="$(ensure_repo)"; fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; [[ -f "$REPO/objects/info/commit-graph.bench-off" ]] && mv "$REPO/objects/info/commit-graph.bench-off" "$REPO/objects/info/commit-graph"; true' EXIT

GITLOG=(git -C "$REPO" --no-pager log --format='%H%x00%an%x00%ae%x00%cn%x00%ce%x00%B' "$REV")
SCAN_JSONL=("$COUNTERSIGN" scan --repo "$REPO" --range "$REV" --format jsonl)
SCAN_TEXT=("$COUNTERSIGN" scan --repo "$REPO" --range "$REV" --format text)
NAMES=("git log" "scan jsonl" "scan text")

# Correctness first: the scan streams exactly the commits git counts.
expected="$(git -C "$REPO" rev-list --count "$REV")"
scanned="$("${SCAN_JSONL[@]}" 2>/dev/null | wc -l)"
logged="$("${GITLOG[@]:0:4}" log --format=%H "$REV" | wc -l)"
if [[ "$scanned" != "$expected" || "$logged" != "$expected" ]]; then
  echo "COMMIT COUNT MISMATCH: rev-list $expected, git log $logged, scan jsonl $scanned" >&2
  exit 1
fi

stats() { # FILE -> "best_s median_s best_rss_MB median_rss_MB median_cpu_s"
  python3 - "$1" <<'PY'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1]) if line.strip()]
wall = [r[0] for r in rows]; rss = [r[1] for r in rows]; cpu = [r[2] + r[3] for r in rows]
print(f"{min(wall):.3f} {statistics.median(wall):.3f} {min(rss) / 1024:.1f} {statistics.median(rss) / 1024:.1f} {statistics.median(cpu):.2f}")
PY
}

run_pass() { # LABEL
  local label="$1" i
  for i in 0 1 2; do : > "$WORK/$i"; done
  # Warm the page cache and the binaries.
  "${GITLOG[@]}" > /dev/null; "${SCAN_JSONL[@]}" > /dev/null 2>&1; "${SCAN_TEXT[@]}" > /dev/null 2>&1
  for ((rep = 0; rep < REPS; rep++)); do
    measure "$WORK/0" "${GITLOG[@]}"
    measure "$WORK/1" "${SCAN_JSONL[@]}"
    measure "$WORK/2" "${SCAN_TEXT[@]}"
  done
  echo
  echo "== $label: $expected commits, best of $REPS =="
  printf '%-12s %10s %10s %12s %12s %10s\n' command best_s median_s min_rss_MB med_rss_MB cpu_s
  local -a best rss
  for i in 0 1 2; do
    read -r b m r mr c < <(stats "$WORK/$i")
    best[i]=$b; rss[i]=$r
    printf '%-12s %10s %10s %12s %12s %10s\n' "${NAMES[i]}" "$b" "$m" "$r" "$mr" "$c"
  done
  for i in 1 2; do
    python3 -c "import sys; g,s,gr,sr=map(float,sys.argv[1:5]); print(f'git log / {sys.argv[5]}: time {g/s:.2f}x ({\"scan faster\" if g>s else \"SCAN SLOWER\"}), memory {gr/sr:.2f}x ({\"scan smaller\" if gr>sr else \"SCAN LARGER\"})')" \
      "${best[0]}" "${best[i]}" "${rss[0]}" "${rss[i]}" "${NAMES[i]}"
  done
}

echo "repository: $REPO ($(du -sh "$REPO" | cut -f1), $(ls "$REPO"/objects/pack/*.pack | wc -l) pack)"
echo "machine: $(nproc) cores, $(git --version), timer: $([[ -x /usr/bin/time && -z "${BENCH_PYTIMER:-}" ]] && echo /usr/bin/time || echo python3)"
echo "commits: rev-list $expected = git log $logged = scan jsonl lines $scanned"
if [[ -f "$REPO/objects/info/commit-graph" || -d "$REPO/objects/info/commit-graphs" ]]; then
  run_pass "with commit-graph"
else
  run_pass "without commit-graph (fresh clone)"
fi
if [[ -z "${NO_GRAPH_PASS:-}" && -f "$REPO/objects/info/commit-graph" ]]; then
  mv "$REPO/objects/info/commit-graph" "$REPO/objects/info/commit-graph.bench-off"
  run_pass "without commit-graph (fresh clone)"
  mv "$REPO/objects/info/commit-graph.bench-off" "$REPO/objects/info/commit-graph"
fi
