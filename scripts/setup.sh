#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine, as root: Debian packages, the virtual
# environment and portwise's Python dependencies. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(skopeo podman runc crun umoci mmdebstrap docker-registry qemu-user-static binfmt-support
      rpm db5.3-util zstd uidmap curl ca-certificates python3-venv
      musl-tools golang-go strace busybox-static gcc-aarch64-linux-gnu libc6-dev-arm64-cross
      docker.io python3-seccomp)
missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# Foreign images run through qemu-user: binfmt_misc must be mounted (no systemd here to do it)
# and the qemu handlers enabled; they carry the F flag, so they work inside containers.
if [ -d /proc/sys/fs/binfmt_misc ] && ! mountpoint -q /proc/sys/fs/binfmt_misc; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
fi
if mountpoint -q /proc/sys/fs/binfmt_misc && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi

# crun refuses hybrid cgroups whose v2 mount holds a controller ("cgroups in hybrid mode not
# supported"); on such machines (knowledge/real-engine-here.md) move hugetlb to a v1 mount.
if mountpoint -q /sys/fs/cgroup/unified \
   && grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null \
   && [ ! -e /sys/fs/cgroup/hugetlb ]; then
  mkdir -p /sys/fs/cgroup/hugetlb 2>/dev/null \
    && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null || true
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.portwise-deps
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' >&2 || true
  .venv/bin/pip install -q -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' >&2 || true
  .venv/bin/python -c 'import portwise, typer, rich, pydantic, zstandard, pytest, mypy' \
    || { echo "setup: pip install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
