#!/usr/bin/env bash
# The main job on an embedded default: build (once) a small real Debian bookworm image from
# Debian packages, written as an OCI layout, and print its profile.
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
exec .venv/bin/portwise scan "oci:$layout:bookworm" "$@"
