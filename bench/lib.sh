# Shared by the benchmark scripts: paths, the cached synthetic repository, and a timer.
# shellcheck shell=bash

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
CACHE="${BENCH_CACHE:-$BENCH_DIR/.cache}"
COMMITS="${COMMITS:-200000}"
SEED="${SEED:-1}"
COUNTERSIGN="${COUNTERSIGN:-$ROOT/target/release/countersign}"

# Neither git nor gix (countersign) should read the user's or the system's configuration.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
unset GIT_DIR GIT_WORK_TREE

need_binary() {
  if [[ ! -x "$COUNTERSIGN" ]]; then
    echo "no $COUNTERSIGN; build it first: (cd $ROOT && cargo build --release -p countersign)" >&2
    exit 2
  fi
}

# The repository for $COMMITS/$SEED, generated once and reused. Its name carries a hash of the
# generator, so editing gen-history.py makes a new one. Prints the path of the bare repository.
ensure_repo() {
  local gen_hash repo started
  gen_hash="$(sha256sum "$BENCH_DIR/gen-history.py" | cut -c1-12)"
  repo="$CACHE/history-${COMMITS}-s${SEED}-${gen_hash}.git"
  if [[ -f "$repo/bench-complete" ]]; then
    echo "$repo"
    return
  fi
  mkdir -p "$CACHE"
  rm -rf "$repo"
  git init -q --bare "$repo"
  started=$SECONDS
  echo "generating $COMMITS commits (+ feature branch) into $repo ..." >&2
  if ! python3 "$BENCH_DIR/gen-history.py" --commits "$COMMITS" --seed "$SEED" --feature \
    | git -C "$repo" fast-import --quiet; then
    echo "generation failed; see $repo" >&2
    return 1
  fi
  echo "  fast-import done in $((SECONDS - started)) s; repacking like a real clone (git repack -adf) ..." >&2
  git -C "$repo" repack -adf -q
  # What `git gc` adds after its repack: packed refs and the commit-graph (gc.writeCommitGraph).
  git -C "$repo" pack-refs --all
  git -C "$repo" commit-graph write --reachable --no-progress
  git -C "$repo" symbolic-ref HEAD refs/heads/main
  echo "  ready in $((SECONDS - started)) s ($(du -sh "$repo" | cut -f1))" >&2
  date -u +%FT%TZ > "$repo/bench-complete"
  echo "$repo"
}

# measure OUT_FILE CMD...: runs CMD with stdout to /dev/null and appends "wall_s maxrss_kb user_s sys_s".
# Uses /usr/bin/time when installed, otherwise a python3 wrapper (perf_counter + getrusage).
measure() {
  local out="$1"; shift
  if [[ -x /usr/bin/time && -z "${BENCH_PYTIMER:-}" ]]; then
    local tmp; tmp="$(mktemp)"
    /usr/bin/time -f '%e %M %U %S' -o "$tmp" "$@" > /dev/null
    cat "$tmp" >> "$out"
    rm -f "$tmp"
  else
    python3 - "$out" "$@" <<'PY'
import resource, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
subprocess.run(cmd, stdout=subprocess.DEVNULL)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "a") as f:
    f.write(f"{wall:.3f} {usage.ru_maxrss} {usage.ru_utime:.2f} {usage.ru_stime:.2f}\n")
PY
  fi
}
