#!/usr/bin/env bash
# Starts or stops a reference dockerd (Debian's docker.io) on its own socket, data root and
# exec root, for side-by-side benchmarks. It never touches Docker's defaults
# (/var/run/docker.sock, /var/lib/docker) and never starts Docker's service.
#
#   bench/reference-dockerd.sh start   # prints the socket path
#   bench/reference-dockerd.sh stop
set -euo pipefail

base=/run/berth-bench-dockerd
data=/var/lib/berth-bench-dockerd
socket="$base/docker.sock"

install_docker_io() {
    command -v dockerd >/dev/null 2>&1 && return
    # Keep the package's init scripts from starting a daemon on Docker's default socket.
    local policy=/usr/sbin/policy-rc.d created=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        created=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
    [ "$created" = 1 ] && rm -f "$policy"
    return 0
}

case "${1:-}" in
start)
    install_docker_io
    mkdir -p "$base" "$data"
    if [ -S "$socket" ] && curl -sf --unix-socket "$socket" http://x/_ping >/dev/null 2>&1; then
        echo "$socket"
        exit 0
    fi
    dockerd --data-root "$data" --exec-root "$base/exec" -H "unix://$socket" \
        --pidfile "$base/dockerd.pid" --bridge none --iptables=false --ip6tables=false \
        --containerd-namespace berth-bench --containerd-plugins-namespace berth-bench-plugins \
        >"$base/dockerd.log" 2>&1 &
    for _ in $(seq 1 300); do
        curl -sf --unix-socket "$socket" http://x/_ping >/dev/null 2>&1 && { echo "$socket"; exit 0; }
        sleep 0.1
    done
    echo "reference dockerd did not start; see $base/dockerd.log" >&2
    exit 1
    ;;
stop)
    if [ -f "$base/dockerd.pid" ]; then
        kill "$(cat "$base/dockerd.pid")" 2>/dev/null || true
        for _ in $(seq 1 100); do [ -f "$base/dockerd.pid" ] || break; sleep 0.1; done
    fi
    # dockerd bind-mounts its data root onto itself (to make it shared) and leaves it.
    while mountpoint -q "$data"; do umount "$data"; done
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
