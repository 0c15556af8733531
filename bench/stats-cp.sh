#!/usr/bin/env bash
# `docker stats` and `docker cp` figures against one or two Docker-API sockets (berthd,
# dockerd, ...):
#
#   bench/stats-cp.sh SOCKET [SOCKET2]   e.g. bench/stats-cp.sh /run/berth/berth.sock \
#                                               /run/berth-bench-dockerd/docker.sock
#
# - stats over N (default 50) running containers:
#   - `GET /containers/{id}/stats?stream=false` for all N at once (python threads): median wall
#     ms of 5 (the daemon's own answer time, which "stats --no-stream <= 100 ms" is about)
#   - `docker stats --no-stream`: wall ms through the CLI (the CLI itself renders on a 500 ms
#     ticker, so this row has a floor of about 500 ms whatever the daemon does)
#   - N streaming `stats` clients for SECONDS (default 30): the daemon's CPU (utime+stime from
#     /proc/<pid>/stat) as % of one core. The daemon's pid is found from its socket (ss).
# - cp of a tree of mixed files (default 500 MiB: 2000 small files of 4-64 KiB, the rest in
#   files of 1-16 MiB; random content, cached in ~/.cache/berth-bench/cp-tree) into a
#   container and back out, through `docker cp`: median seconds of RUNS_CP (default 3) and
#   MB/s.
#
# The busybox image is imported into each daemon as $IMAGE from the host's busybox-static.
# SKIP_STATS=1 runs only the cp rows. Everything the script creates carries the label berth-bench=stats-cp and is removed at the
# end. Needs: docker CLI, curl, python3, ss.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 SOCKET [SOCKET2]" >&2
    exit 2
fi
N=${N:-50}
SECONDS_CPU=${SECONDS_CPU:-30}
RUNS_CP=${RUNS_CP:-3}
TREE_MB=${TREE_MB:-500}
IMAGE=berth-bench/stats-cp-busybox:latest
LABEL=berth-bench=stats-cp
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-XXXXXX")
TREE=${TREE:-$HOME/.cache/berth-bench/cp-tree-$TREE_MB}

rootfs="$WORK/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
tar -C "$rootfs" -cf "$WORK/rootfs.tar" .

if [ ! -d "$TREE" ]; then
    python3 - "$TREE" "$TREE_MB" <<'EOF'
import os, random, sys
root, total = sys.argv[1], int(sys.argv[2]) << 20
rng = random.Random(42)
tmp = root + ".tmp"
os.makedirs(tmp, exist_ok=True)
written = 0
for i in range(2000):
    d = os.path.join(tmp, f"small/{i % 40}")
    os.makedirs(d, exist_ok=True)
    size = rng.randint(4 << 10, 64 << 10)
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(os.urandom(size))
    written += size
i = 0
while written < total:
    d = os.path.join(tmp, f"big/{i % 8}")
    os.makedirs(d, exist_ok=True)
    size = min(rng.randint(1 << 20, 16 << 20), total - written)
    with open(os.path.join(d, f"b{i}"), "wb") as f:
        f.write(os.urandom(size))
    written += size
    i += 1
os.rename(tmp, root)
EOF
fi
tree_bytes=$(du -sb "$TREE" | cut -f1)

now_ns() { date +%s%N; }
ms() { python3 -c "print(f'{($2 - $1) / 1e6:.1f}')"; }
median() { sort -n | awk '{a[NR]=$1} END {print ((NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }

cleanup_daemon() {
    local d=(docker -H "unix://$1")
    local ids
    ids=$("${d[@]}" ps -aq --filter "label=$LABEL" 2>/dev/null || true)
    [ -z "$ids" ] || "${d[@]}" rm -f $ids >/dev/null 2>&1 || true
    "${d[@]}" rmi "$IMAGE" >/dev/null 2>&1 || true
}

SOCKETS=("$@")
STREAMS=()
cleanup() {
    for pid in "${STREAMS[@]:-}"; do [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; done
    for s in "${SOCKETS[@]}"; do cleanup_daemon "$s"; done
    rm -rf "$WORK"
}
trap cleanup EXIT

daemon_pid() {
    ss -xlpn | awk -v s="$1" '$5 == s {print}' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

bench() {
    local sock=$1
    local d=(docker -H "unix://$sock")
    local api="http://localhost"
    "${d[@]}" import "$WORK/rootfs.tar" "$IMAGE" >/dev/null
    echo "== $sock ($("${d[@]}" version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"

    local t0 t1
    # stats (SKIP_STATS=1 leaves them out)
    if [ "${SKIP_STATS:-0}" != 1 ]; then
    local ids=()
    for i in $(seq "$N"); do
        ids+=("$("${d[@]}" run -d --network none --label "$LABEL" "$IMAGE" sleep 3600)")
    done
    sleep 2
    local runs=() t0 t1
    python3 - "$sock" "${ids[@]}" <<'EOF'
import socket, sys, threading, time
sock, ids = sys.argv[1], sys.argv[2:]
def get(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    while s.recv(65536):
        pass
    s.close()
times = []
for _ in range(5):
    t0 = time.perf_counter()
    ts = [threading.Thread(target=get, args=(f"/containers/{i}/stats?stream=false",)) for i in ids]
    [t.start() for t in ts]
    [t.join() for t in ts]
    times.append((time.perf_counter() - t0) * 1000)
    time.sleep(1.5)
times.sort()
print(f"stats stream=false x{len(ids)} all at once (API): median {times[2]:.1f} ms")
EOF
    runs=()
    for _ in 1 2 3; do
        t0=$(now_ns); "${d[@]}" stats --no-stream >/dev/null; t1=$(now_ns)
        runs+=("$(ms "$t0" "$t1")")
    done
    echo "docker stats --no-stream over $N (CLI): median $(printf '%s\n' "${runs[@]}" | median) ms"
    local pid
    pid=$(daemon_pid "$sock")
    STREAMS=()
    for id in "${ids[@]}"; do
        curl -s -N -o /dev/null --unix-socket "$sock" "$api/containers/$id/stats" &
        STREAMS+=("$!")
    done
    sleep 3
    if [ -n "$pid" ]; then
        local c0 c1 hz
        hz=$(getconf CLK_TCK)
        c0=$(cpu_ticks "$pid"); sleep "$SECONDS_CPU"; c1=$(cpu_ticks "$pid")
        python3 -c "print(f'$N streaming stats clients: daemon CPU {($c1 - $c0) / $hz / $SECONDS_CPU * 100:.2f}% of one core over ${SECONDS_CPU}s (pid $pid)')"
    else
        echo "$N streaming stats clients: daemon pid not found from the socket; CPU n/a"
    fi
    for p in "${STREAMS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    STREAMS=()
    "${d[@]}" rm -f "${ids[@]}" >/dev/null
    fi

    # cp
    local ins=() outs=()
    for r in $(seq "$RUNS_CP"); do
        local c out
        c=$("${d[@]}" run -d --network none --label "$LABEL" "$IMAGE" sleep 3600)
        t0=$(now_ns); "${d[@]}" cp "$TREE" "$c:/tree"; t1=$(now_ns)
        ins+=("$(ms "$t0" "$t1")")
        out="$WORK/out-$r"; mkdir -p "$out"
        t0=$(now_ns); "${d[@]}" cp "$c:/tree" "$out/"; t1=$(now_ns)
        outs+=("$(ms "$t0" "$t1")")
        rm -rf "$out"
        "${d[@]}" rm -f "$c" >/dev/null
    done
    local in_ms out_ms
    in_ms=$(printf '%s\n' "${ins[@]}" | median)
    out_ms=$(printf '%s\n' "${outs[@]}" | median)
    python3 -c "
b = $tree_bytes
print(f'cp in  {b / 2**20:.0f} MiB: median {$in_ms / 1000:.2f} s = {b / 2**20 / ($in_ms / 1000):.0f} MiB/s')
print(f'cp out {b / 2**20:.0f} MiB: median {$out_ms / 1000:.2f} s = {b / 2**20 / ($out_ms / 1000):.0f} MiB/s')"
    cleanup_daemon "$sock"
}

for s in "${SOCKETS[@]}"; do
    bench "$s"
done
