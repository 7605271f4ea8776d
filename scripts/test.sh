#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, real image fixtures (built once per machine
# and cached under /var/cache/portwise-fixtures), lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PORTWISE_FIXTURES=${PORTWISE_FIXTURES:-/var/cache/portwise-fixtures/images-v1}
if [ ! -e "$PORTWISE_FIXTURES/.complete" ]; then
  bash tests/fixtures/build_images.sh "$PORTWISE_FIXTURES"
fi
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/pytest -q -n 2 "$@"
