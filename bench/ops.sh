#!/usr/bin/env bash
# Container-operation figures through the docker CLI against one or two Docker-API sockets
# (berthd, dockerd, ...):
#
#   bench/ops.sh SOCKET [SOCKET2]   e.g. bench/ops.sh /run/berth/berth.sock \
#                                          /run/berth-bench-dockerd/docker.sock
#
# - `commit` of a running container that wrote 100 MiB (100 files of 1 MiB): median of
#   RUNS (default 5) commits of the same container, wall time through the CLI
# - `diff` of that container, and `export` of it to /dev/null: medians
#
# The busybox image is imported into each daemon as $IMAGE from the host's busybox-static
# (/bin/busybox). Everything the script creates carries the label berth-bench=ops or the
# repository berth-bench/ops-*, and is removed at the end. Needs: docker CLI, python3.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 SOCKET [SOCKET2]" >&2
    exit 2
fi
RUNS=${RUNS:-5}
IMAGE=berth-bench/ops-busybox:latest
LABEL=berth-bench=ops
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-XXXXXX")

rootfs="$WORK/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
tar -C "$rootfs" -cf "$WORK/rootfs.tar" .

now_ns() { date +%s%N; }

# Median milliseconds of the given timings (one per line, in microseconds).
median() {
    sort -n | awk '{a[NR]=$1} END {printf "%.1f\n", ((NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2) / 1000}'
}

cleanup_daemon() {
    local d=(docker -H "unix://$1")
    local ids
    ids=$("${d[@]}" ps -aq --filter "label=$LABEL" 2>/dev/null || true)
    if [ -n "$ids" ]; then
        echo "$ids" | xargs "${d[@]}" rm -f >/dev/null 2>&1 || true
    fi
    for image in $("${d[@]}" images --format '{{.Repository}}:{{.Tag}}' 'berth-bench/ops-*' 2>/dev/null); do
        "${d[@]}" rmi -f "$image" >/dev/null 2>&1 || true
    done
}
cleanup() {
    for sock in "${SOCKETS[@]}"; do cleanup_daemon "$sock"; done
    rm -rf "$WORK"
}
SOCKETS=("$@")
trap cleanup EXIT

printf '%-28s' "operation"
for sock in "${SOCKETS[@]}"; do printf '%24s' "$(docker -H "unix://$sock" version -f '{{.Server.Version}}' 2>/dev/null || echo "?")"; done
echo

declare -A RESULTS
for sock in "${SOCKETS[@]}"; do
    d=(docker -H "unix://$sock")
    cleanup_daemon "$sock"
    "${d[@]}" import "$WORK/rootfs.tar" "$IMAGE" >/dev/null
    "${d[@]}" run -d --label "$LABEL" --name berth-bench-ops --network none "$IMAGE" sh -c \
        'mkdir /data && i=0; while [ $i -lt 100 ]; do head -c 1048576 /dev/urandom > /data/f$i; i=$((i+1)); done; touch /done; sleep 100000' >/dev/null
    until "${d[@]}" exec berth-bench-ops test -e /done 2>/dev/null; do sleep 0.2; done
    sync
    RESULTS[$sock,commit]=$(for i in $(seq "$RUNS"); do
        t0=$(now_ns); "${d[@]}" commit berth-bench-ops "berth-bench/ops-commit:$i" >/dev/null; t1=$(now_ns)
        echo $(( (t1 - t0) / 1000 ))
        "${d[@]}" rmi "berth-bench/ops-commit:$i" >/dev/null
    done | median)
    RESULTS[$sock,diff]=$(for _ in $(seq "$RUNS"); do
        t0=$(now_ns); "${d[@]}" diff berth-bench-ops >/dev/null; t1=$(now_ns)
        echo $(( (t1 - t0) / 1000 ))
    done | median)
    RESULTS[$sock,export]=$(for _ in $(seq "$RUNS"); do
        t0=$(now_ns); "${d[@]}" export berth-bench-ops >/dev/null; t1=$(now_ns)
        echo $(( (t1 - t0) / 1000 ))
    done | median)
    cleanup_daemon "$sock"
done

for row in commit diff export; do
    case $row in
        commit) label="commit 100 MiB (ms)" ;;
        diff) label="diff, 100 files (ms)" ;;
        export) label="export 100 MiB (ms)" ;;
    esac
    printf '%-28s' "$label"
    for sock in "${SOCKETS[@]}"; do printf '%24s' "${RESULTS[$sock,$row]}"; done
    echo
done
