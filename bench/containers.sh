#!/usr/bin/env bash
# Container lifecycle figures through the docker CLI against one or two Docker-API sockets
# (berthd, dockerd, ...):
#
#   bench/containers.sh SOCKET[=CLI] [SOCKET2[=CLI]]
#       e.g. bench/containers.sh /run/berth/berth.sock=target/release/berth \
#                                /run/berth-bench-dockerd/docker.sock
#
# Each socket is driven by the docker CLI, or by the CLI named after `=` (our `berth`).
#
# - `run --rm --network none busybox true`: median of RUNS (default 20)
# - 20 concurrent `run --rm --network none busybox true`: wall time, median of BATCHES
#   (default 5)
# - `ps -a` with 1000 containers: median through the CLI, and the daemon's own time for
#   `GET /containers/json?all=1` (curl's time_total)
# - `exec true` in a running container: median (skipped when the daemon has no exec)
# - `logs` read back of 100 MiB (lines of LOG_LINE bytes, default 100, about a typical log
#   line; `--log-opt max-size=1g` so neither daemon rotates): MB/s through the CLI, and the
#   daemon's own rate through curl
# A daemon without attach (hijack) cannot run attached: then the `run` rows use `run -d
# --rm` and wait for the removal, and say so.
#
# The busybox image is imported into each daemon as $IMAGE from the host's busybox-static
# (/bin/busybox). Everything the script creates carries the label berth-bench=containers and
# is removed at the end. Needs: docker CLI, curl, python3; hyperfine is used when present.
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 SOCKET[=CLI] [SOCKET2[=CLI] ...]" >&2
    exit 2
fi
RUNS=${RUNS:-20}
# Batches of 20 concurrent runs; the median is reported (one batch is noisy on 2 cores).
BATCHES=${BATCHES:-5}
IMAGE=berth-bench/lifecycle-busybox:latest
LABEL=berth-bench=containers
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
ms() { python3 -c "print(f'{($2 - $1) / 1e6:.1f}')"; }

# Median milliseconds of a command run RUNS times (hyperfine if present).
median_ms() {
    if command -v hyperfine >/dev/null; then
        hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$WORK/h.json" "$*" >/dev/null 2>&1
        python3 -c "import json; print(f\"{json.load(open('$WORK/h.json'))['results'][0]['median'] * 1000:.1f}\")"
    else
        for _ in $(seq "$RUNS"); do
            local t0 t1
            t0=$(now_ns); "$@" >/dev/null 2>&1; t1=$(now_ns)
            echo $(( (t1 - t0) / 1000 ))
        done | sort -n | awk '{a[NR]=$1} END {printf "%.1f\n", ((NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2) / 1000}'
    fi
}

cleanup_daemon() {
    local d=(docker -H "unix://$1")
    local ids
    ids=$("${d[@]}" ps -aq --filter "label=$LABEL" 2>/dev/null || true)
    if [ -n "$ids" ]; then
        echo "$ids" | xargs -n 100 "${d[@]}" rm -f >/dev/null 2>&1 || true
    fi
    "${d[@]}" rmi -f "$IMAGE" >/dev/null 2>&1 || true
}
cleanup() {
    for sock in "${SOCKETS[@]}"; do cleanup_daemon "$sock"; done
    rm -rf "$WORK"
}
SOCKETS=()
for arg in "$@"; do SOCKETS+=("${arg%%=*}"); done
trap cleanup EXIT

# Waits until no container with the label is left (for `run -d --rm`).
wait_gone() {
    local d=(docker -H "unix://$1")
    while [ -n "$("${d[@]}" ps -aq --filter "label=$LABEL")" ]; do sleep 0.01; done
}

row() { printf '%-44s %s\n' "$1" "$2"; }

for arg in "$@"; do
    sock=${arg%%=*}
    cli=docker
    if [[ $arg == *=* ]]; then cli=$(readlink -f "${arg#*=}"); fi
    d=("$cli" -H "unix://$sock")
    echo "== $sock ($("${d[@]}" version -f '{{.Server.Version}}' 2>/dev/null || echo '?'); CLI: $cli)"
    "${d[@]}" import -c 'CMD ["sh"]' "$WORK/rootfs.tar" "$IMAGE" >/dev/null
    run=("${d[@]}" run --rm --network none -l "$LABEL" "$IMAGE" true)

    if "${run[@]}" >/dev/null 2>&1; then
        row "run --rm --network none true (median)" "$(median_ms "${run[@]}") ms"
        batches=$(for _ in $(seq "$BATCHES"); do
            sleep 0.5
            t0=$(now_ns)
            for _ in $(seq 20); do "${run[@]}" >/dev/null & done
            wait
            ms "$t0" "$(now_ns)"
        done | sort -n)
        row "20 concurrent run --rm (median of $BATCHES)" "$(echo "$batches" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') ms (all: $(echo $batches))"
    else
        detached=("${d[@]}" run -d --rm --network none -l "$LABEL" "$IMAGE" true)
        # The failed attempt leaves a created container behind.
        "${d[@]}" ps -aq --filter "label=$LABEL" | xargs -r "${d[@]}" rm -f >/dev/null
        row "run --rm (attached)" "n/a: the daemon cannot attach"
        row "run -d --rm --network none true (median)" "$(median_ms "${detached[@]}") ms"
        wait_gone "$sock"
        t0=$(now_ns)
        for _ in $(seq 20); do "${detached[@]}" >/dev/null & done
        wait
        wait_gone "$sock"
        row "20 concurrent run -d --rm, until all gone" "$(ms "$t0" "$(now_ns)") ms"
    fi

    # 1000 containers for ps, made 8 at a time.
    seq 1000 | xargs -P 8 -n 50 sh -c 'for _ in "$@"; do '"${d[*]}"' create -l '"$LABEL"' --network none '"$IMAGE"' true >/dev/null; done' sh
    row "ps -a, 1000 containers (CLI, median)" "$(median_ms "${d[@]}" ps -a)  ms"
    api=$(for _ in $(seq "$RUNS"); do
        curl -s -o /dev/null -w '%{time_total}\n' --unix-socket "$sock" 'http://d/containers/json?all=1'
    done | sort -n | awk '{a[NR]=$1} END {printf "%.1f", ((NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2) * 1000}')
    row "GET /containers/json?all=1, 1000 (median)" "$api ms"
    "${d[@]}" ps -aq --filter "label=$LABEL" | xargs -n 100 "${d[@]}" rm -f >/dev/null

    exec_name="bench-exec-$$"
    "${d[@]}" run -d --name "$exec_name" --network none -l "$LABEL" "$IMAGE" sleep 1000 >/dev/null
    if "${d[@]}" exec "$exec_name" true >/dev/null 2>&1; then
        row "exec true (median)" "$(median_ms "${d[@]}" exec "$exec_name" true) ms"
    else
        row "exec true" "n/a: the daemon has no exec"
    fi
    "${d[@]}" rm -f "$exec_name" >/dev/null

    logs_name="bench-logs-$$"
    line=$(printf "%0$((${LOG_LINE:-100} - 1))d" 0)
    "${d[@]}" run -d --name "$logs_name" --network none -l "$LABEL" --log-opt max-size=1g \
        "$IMAGE" sh -c "yes $line | head -c 104857600" >/dev/null
    "${d[@]}" wait "$logs_name" >/dev/null
    best=""
    for _ in 1 2 3; do
        t0=$(now_ns)
        bytes=$("${d[@]}" logs "$logs_name" 2>/dev/null | wc -c)
        t1=$(now_ns)
        mbps=$(python3 -c "print(f'{$bytes / (($t1 - $t0) / 1e9) / 1e6:.1f}')")
        best=$(printf '%s\n%s\n' "$best" "$mbps" | sort -n | tail -1)
    done
    row "logs read back, $((bytes / 1048576)) MiB (CLI, best of 3)" "$best MB/s"
    # The daemon's own rate: the CLI's one write per frame bounds the row above.
    api=$(for _ in 1 2 3; do
        curl -s -o /dev/null -w '%{time_total}\n' --unix-socket "$sock" \
            "http://d/containers/$logs_name/logs?stdout=1&stderr=1"
    done | sort -n | head -1)
    row "logs read back, API (curl, best of 3)" "$(python3 -c "print(f'{$bytes / $api / 1e6:.1f}')") MB/s"
    "${d[@]}" rm -f "$logs_name" >/dev/null
    cleanup_daemon "$sock"
done
