"""Times a countersign command: one warm-up, then RUNS timed runs; prints the answer's shape,
best/median/worst wall time and peak RSS, and whether the median meets TARGET_MS.

    python3 bench/timing.py RUNS TARGET_MS CMD...

CMD must print a decision as JSON and exit 0 or 1; anything else fails the benchmark.

With REFERENCE set (a shell command, e.g. `git log --numstat` over the same commits), the
reference runs interleaved with CMD and its median and the ratio are printed too: a host that is
slower today is slower for both, so the ratio is what compares across days."""

import json
import os
import resource
import statistics
import subprocess
import sys
import time

runs, target, cmd = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]


reference = os.environ.get("REFERENCE")


def timed_reference():
    start = time.perf_counter()
    subprocess.run(reference, shell=True, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def once():
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"the command failed with exit {proc.returncode}:\n{proc.stderr.decode()}")
    return wall, proc


_, proc = once()  # warm-up: page cache and binary
decision = json.loads(proc.stdout)
change = decision["change"]
print(
    f"answer: {decision['verdict']} (exit {proc.returncode}), {change['commits']} commits, {change['files']} files, "
    f"+{change['lines_added']}/-{change['lines_deleted']} lines, {len(change['services'])} services, "
    f"ai_assisted={decision['ai_assisted']}, {len(decision.get('changes', []))} merged changes"
)
walls = []
references = []
peak = 0
if reference:
    timed_reference()  # warm-up
for _ in range(runs):
    wall, _ = once()
    walls.append(wall)
    if reference:
        references.append(timed_reference())
    peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
ms = sorted(w * 1000 for w in walls)
print(
    f"{runs} runs: best {ms[0]:.1f} ms, median {statistics.median(ms):.1f} ms, worst {ms[-1]:.1f} ms, "
    f"peak RSS {peak / 1024:.1f} MB"
)
print(f"target < {target:.0f} ms: {'met' if statistics.median(ms) < target else 'NOT MET'} (median)")
if reference:
    ref_ms = statistics.median(references) * 1000
    print(f"reference: {reference}")
    print(f"reference median {ref_ms:.1f} ms; countersign / reference = {statistics.median(ms) / ref_ms:.2f}x")
