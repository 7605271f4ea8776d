#!/usr/bin/env bash
# The main job on an embedded default: build (once) a small real Debian bookworm image from
# Debian packages, written as an OCI layout, print its profile, and check it against a handful
# of reference hosts from the catalog and this machine. Extra arguments go to `portwise check`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SAMPLE=${PORTWISE_SAMPLE:-/var/cache/portwise-sample}
layout=$SAMPLE/oci
if [ ! -e "$layout/index.json" ]; then
  mkdir -p "$SAMPLE"
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null \
           || true)
  echo "demo: building a Debian bookworm sample image (once, ~1 minute)" >&2
  mmdebstrap -q --variant=minbase --skip=output/dev --include=ca-certificates \
    bookworm "$SAMPLE/rootfs.tar" ${mirror:+"$mirror"}
  rm -rf "$layout.tmp"
  umoci init --layout "$layout.tmp"
  umoci new --image "$layout.tmp:bookworm"
  umoci raw add-layer --image "$layout.tmp:bookworm" "$SAMPLE/rootfs.tar"
  umoci config --image "$layout.tmp:bookworm" --config.cmd /bin/bash \
    --history.created_by "mmdebstrap --variant=minbase bookworm"
  mv "$layout.tmp" "$layout"
fi
image="oci:$layout:bookworm"
.venv/bin/portwise scan "$image"
echo
# --fail-on never: the demo shows verdicts; a CI gate would keep the default (exit 2 on FAIL).
exec .venv/bin/portwise check "$image" \
  --host ubuntu-20.04-docker-20.10.9 --host ubuntu-20.04-docker-20.10.10 \
  --host ubuntu-22.04 --host rhel-7.9 --host centos-6 --host local \
  --fail-on never "$@"
