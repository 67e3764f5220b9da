#!/usr/bin/env bash
# Calibrates risk on a real public history, then compares "every AI-assisted change by junior and
# mid-level engineers needs a senior" (the naive rule) with the calibrated proportional policy on
# the changes the calibration did not see.
#
#   bench/real-history/calibrate.sh REPO [TIP] [--tier0 GLOB]...
#
# REPO is a clone of a public repository (not fetched here: this machine has no network), e.g.
#   git clone https://github.com/charmbracelet/crush /tmp/crush
#   bench/real-history/calibrate.sh /tmp/crush main --tier0 'internal/permission/**' --tier0 'internal/shell/**'
# TIP (default main) ends the history. Levels and services come from the history itself
# (make-config.py says why); --tier0 names the code an outage or a breach would come through.
# The first two thirds of TIP's first-parent history calibrate; the last third is replayed.
# SHARE (default 0.15) and CRITICAL_SHARE (0.03), the command's defaults, bound the changes rated high and critical.
set -euo pipefail
shopt -s inherit_errexit
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"
need_binary
REPO="${1:?usage: calibrate.sh REPO [TIP] [--tier0 GLOB]...}"
shift
TIP=main
if [[ $# -gt 0 && $1 != --* ]]; then TIP="$1"; shift; fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python3 "$HERE/make-config.py" --repo "$REPO" --out "$WORK/config" "$@" 2> "$WORK/make-config.log" \
  || { cat "$WORK/make-config.log" >&2; exit 2; }
NAIVE="$WORK/config/naive"
TOTAL="$(git -C "$REPO" rev-list --count --first-parent "$TIP")"
SPLIT="$TIP~$((TOTAL / 3))"
SPLIT_ID="$(git -C "$REPO" rev-parse "$SPLIT")"
echo "repository: $REPO, $TOTAL first-parent changes to $TIP; calibrate on those to ${SPLIT_ID:0:10}, compare on the rest"

: > "$WORK/times"
# Wall time and peak memory of a command, its output kept.
timed() {
  local out="$1"; shift
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -f '%e %M' -a -o "$WORK/times" "$@" > "$out"
  else
    local start; start="$(date +%s%N)"
    "$@" > "$out"
    echo "$(( ($(date +%s%N) - start) / 1000000 ))" | awk '{ print $1 / 1000, 0 }' >> "$WORK/times"
  fi
}
SHARES=(--share "${SHARE:-0.15}" --critical-share "${CRITICAL_SHARE:-0.03}")
timed "$WORK/calibration.json" "$COUNTERSIGN" risk calibrate --repo "$REPO" --range "$SPLIT_ID" --config "$NAIVE" \
  "${SHARES[@]}" --format json
"$COUNTERSIGN" risk calibrate --repo "$REPO" --range "$SPLIT_ID" --config "$NAIVE" "${SHARES[@]}" \
  > "$WORK/calibration.txt"

# The proportional policy: a senior for AI-assisted changes of juniors and mid-levels only when they
# touch tier 0, destroy something or rate high; and for anyone's change below senior that rates
# critical, AI-assisted or not.
PROPORTIONAL="$WORK/config/proportional"
mkdir -p "$PROPORTIONAL"
cp "$NAIVE/people.toml" "$NAIVE/services.toml" "$PROPORTIONAL/"
python3 - "$WORK/calibration.json" > "$PROPORTIONAL/policy.toml" <<'PY'
import json, sys
calibration = json.load(open(sys.argv[1]))["calibration"]
print('''version = 1

[approvals]
no_rule_applies = "allow"
unknown_people = "lowest-level"

[[rule]]
name = "ai-senior-proportional"
description = "AI-assisted changes of juniors and mid-levels need a senior when critical, destructive or risky"
when = { ai_assisted = true, author_level_below = "senior", any = [{ tier_at_most = 0 }, { destructive = true }, { risk_at_least = "high" }] }
requires = { count = 1, min_level = "senior" }

[[rule]]
name = "critical-senior"
description = "Changes of juniors and mid-levels that rate critical need a senior, AI-assisted or not"
when = { author_level_below = "senior", risk_at_least = "critical" }
requires = { count = 1, min_level = "senior" }
''')
print(calibration["risk_toml"], end="")
PY

timed "$WORK/compare.json" "$COUNTERSIGN" simulate --repo "$REPO" --range "$SPLIT_ID..$TIP" --config "$NAIVE" \
  --compare "$PROPORTIONAL" --format json
"$COUNTERSIGN" simulate --repo "$REPO" --range "$SPLIT_ID..$TIP" --config "$NAIVE" --compare "$PROPORTIONAL" \
  > "$WORK/compare.txt"

sed -n '1,/^\[risk\]/p' "$WORK/calibration.txt" | sed '$d'
echo "--- proposed [risk] block, used by the proportional policy:"
sed -n '/^\[risk\]/,$p' "$WORK/calibration.txt"
echo "--- on the held-out changes:"
sed -n '1,/^queue delay:/p' "$WORK/compare.txt" | sed '$d'
python3 - "$WORK/compare.json" "$WORK/times" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
naive, proportional = report["policies"]
def senior_fixed(policy): return policy["efficacy"]["all"]["fixed_with_senior"]
fewer = 1 - proportional["need_senior"] / naive["need_senior"] if naive["need_senior"] else 0
covered = proportional["efficacy"]["ai_tier0_or_destructive"]
print("--- the goal (issue 16), on the held-out changes:")
print(f"need a senior: naive {naive['need_senior']}, proportional {proportional['need_senior']} "
      f"({fewer:.0%} fewer; goal at least 50%)")
print(f"AI-assisted tier-0 or destructive changes of juniors and mid-levels given a senior: "
      f"{covered['with_senior']} of {covered['changes']} (goal all)")
print(f"later-fixed changes given a senior: naive {senior_fixed(naive)}, proportional {senior_fixed(proportional)} "
      f"(goal at least as many)")
(cal_wall, cal_rss, *_), (sim_wall, sim_rss, *_) = [line.split() for line in open(sys.argv[2])]
print(f"time: calibrate {float(cal_wall):.1f} s (peak {int(cal_rss) / 1024:.0f} MB), "
      f"simulate with two policies {float(sim_wall):.1f} s (peak {int(sim_rss) / 1024:.0f} MB)")
PY
