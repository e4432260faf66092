#!/usr/bin/env bash
# The whole test suite: installs the published clients the compatibility tests need (cached
# outside the work tree), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/upstream_clients.sh)"
export KANIDM_UPSTREAM_CLI KANIDM_2022_CLI KANIDM_UPSTREAM_PYTHON KANIDM_PLAYWRIGHT_PYTHON KANIDM_CHROMIUM
exec cargo test --workspace --locked "$@"
