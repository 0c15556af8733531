#!/bin/bash
# Median wall time of create+start+wait+delete (`<runtime> run`) of `true` in a busybox
# bundle, N times each, through berth-runc, runc and crun (crun inside a private mount
# namespace without the cgroup v2 "unified" tree, which crun 1.8 refuses on hybrid hosts),
# and through the shim path berthd uses (`berth-shim start`, then start, wait and shutdown
# over the protocol, with berth-runtime in-process as berthd runs it: the shim_cycle example
# of berth-shim).
# Usage: bench/runtime.sh [N] [path/to/berth-runc]   (run as root; build first with
#   cargo build --release --workspace --bins && cargo build --release -p berth-shim --example shim_cycle)
set -euo pipefail
N=${1:-50}
BERTH=${2:-$(dirname "$0")/../target/release/berth-runc}
BERTH=$(readlink -f "$BERTH")
RELEASE=$(dirname "$BERTH")
SHIM="$RELEASE/berth-shim"
CYCLE="$RELEASE/examples/shim_cycle"
WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/bundle/rootfs/"{bin,proc,sys,dev,tmp}
cp /bin/busybox "$WORK/bundle/rootfs/bin/"
ln -s busybox "$WORK/bundle/rootfs/bin/true"
ln -s busybox "$WORK/bundle/rootfs/bin/sh"
(cd "$WORK/bundle" && runc spec)
python3 - "$WORK/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
json.dump(c, open(p, "w"))
PY

# One timed `run` of `true`: prints microseconds.
one_run() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 ))
}

# median <name> <file of microsecond samples>
median() {
  sort -n "$2" | awk -v name="$1" '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%-12s median %8.2f ms  (min %.2f, max %.2f, n=%d)\n", name, m/1000, a[1]/1000, a[NR]/1000, NR}'
}

# The runtimes take turns, so load from other work on the machine hits them alike.
HAVE_CRUN=$(command -v crun >/dev/null && echo 1 || echo 0)
HAVE_SHIM=$([ -x "$SHIM" ] && [ -x "$CYCLE" ] && echo 1 || echo 0)
for i in $(seq 1 "$N"); do
  one_run "$BERTH" --root "$WORK/state-berth" run --bundle "$WORK/bundle" "bench-b-$$-$i" >> "$WORK/berth.us"
  if [ "$HAVE_SHIM" = 1 ]; then
    # Timed inside: spawn of the shim through its exit, as berthd sees it.
    "$CYCLE" "$SHIM" builtin "$WORK/state-shim" "$WORK/bundle" "$WORK/shim-$i" "bench-s-$$-$i" >> "$WORK/shim.us"
  fi
  one_run runc --root "$WORK/state-runc" run --bundle "$WORK/bundle" "bench-r-$$-$i" >> "$WORK/runc.us"
  if [ "$HAVE_CRUN" = 1 ]; then
    # crun 1.8 refuses hybrid cgroups: run it in a mount namespace without the v2 tree.
    unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; t0=$(date +%s%N); crun --root "$1" run --bundle "$2" "$3" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 ))' \
      sh "$WORK/state-crun" "$WORK/bundle" "bench-c-$$-$i" >> "$WORK/crun.us"
  fi
done
median berth-runc "$WORK/berth.us"
[ "$HAVE_SHIM" = 1 ] && median shim-path "$WORK/shim.us"
median runc "$WORK/runc.us"
[ "$HAVE_CRUN" = 1 ] && median crun "$WORK/crun.us"
exit 0
