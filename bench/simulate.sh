#!/usr/bin/env bash
# `countersign simulate` over the generated 200,000-commit history: wall time and peak memory, in
# one run with the nearest reference, `git log --first-parent --numstat` (which also diffs every
# change with line counts, but decides nothing).
#
#   bench/simulate.sh                 # one run of each, after a warm-up of the pack
#   COMMITS=20000 bench/simulate.sh   # a smaller history
#
# Uses the repository of scan-vs-git-log.sh (bench/.cache/, created here if missing). The replay
# compares the repository's own policy with a copy without the senior rule (--compare), so two
# policies are decided for every change, as an organisation would run it.
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_binary
REPO="$(ensure_repo)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The comparison policy: the repository's own, without the AI senior sign-off rule.
mkdir -p "$WORK/lenient"
git -C "$REPO" show main:.countersign/people.toml > "$WORK/lenient/people.toml"
git -C "$REPO" show main:.countersign/services.toml > "$WORK/lenient/services.toml"
git -C "$REPO" show main:.countersign/policy.toml | python3 -c '
import re, sys
text = sys.stdin.read()
blocks = re.split(r"(?m)^(?=\[\[rule\]\])", text)
print("".join(block for block in blocks if "ai_assisted" not in block), end="")
' > "$WORK/lenient/policy.toml"

echo "repository: $REPO ($(git -C "$REPO" rev-list --count --first-parent main) first-parent commits on main)"
git -C "$REPO" cat-file --batch-all-objects --batch-check > /dev/null  # warm the page cache

: > "$WORK/times"
measure "$WORK/times" git -C "$REPO" log --first-parent --numstat --format='%H%x00%an%x00%ae%x00%B' main
measure "$WORK/times" "$COUNTERSIGN" simulate --repo "$REPO" --range main --format json \
  --compare "$WORK/lenient" --chart "$WORK/chart.svg"
"$COUNTERSIGN" simulate --repo "$REPO" --range main --compare "$WORK/lenient" --chart "$WORK/chart.svg" \
  > "$WORK/report.txt"

python3 - "$WORK/times" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1])]
(git_wall, git_rss, *_), (sim_wall, sim_rss, sim_user, sim_sys) = rows
print(f"git log --first-parent --numstat: {float(git_wall):.2f} s, peak {int(git_rss) / 1024:.1f} MB")
print(f"countersign simulate (2 policies): {float(sim_wall):.2f} s (user {sim_user} s, sys {sim_sys} s), "
      f"peak {int(sim_rss) / 1024:.1f} MB")
print(f"simulate / git log: {float(sim_wall) / float(git_wall):.2f}x the time, "
      f"{int(sim_rss) / int(git_rss):.2f}x the memory")
PY
echo
sed -n '1,40p' "$WORK/report.txt"
