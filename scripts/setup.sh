#!/usr/bin/env bash
# Installs what building and testing Berth needs on Debian 12, as root. Idempotent: it
# installs only what is missing, so a second run costs a few seconds.
set -euo pipefail

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "setup.sh: run as root (it installs Debian packages)" >&2
        exit 1
    fi
}

# Debian packages: libseccomp-dev for the seccomp compiler, gcc and libc6-dev for linking
# (berth-init is linked static; the seccomp tests build a static probe), busybox-static for
# the test and demo images, runc and crun to check our runtime against, nftables for port
# publishing, pkg-config for -sys crates, procps for `ps` (container top).
packages=(pkg-config gcc libc6-dev libseccomp-dev busybox-static runc crun nftables iproute2 procps)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ! command -v docker >/dev/null 2>&1; then
    # The real docker CLI is our independent client; Debian ships it in docker.io.
    missing+=(docker.io)
fi
if [ ${#missing[@]} -gt 0 ]; then
    need_root
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# docker-py, the second independent client.
if ! python3 -c 'import docker' >/dev/null 2>&1; then
    echo "setup.sh: installing docker-py"
    python3 -m pip install --quiet 'docker==7.1.0'
fi

command -v cargo >/dev/null || { echo "setup.sh: cargo is missing (install Rust stable)" >&2; exit 1; }
