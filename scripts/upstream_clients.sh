#!/usr/bin/env bash
# Installs the published Kanidm clients the compatibility tests run against our server, into a
# cache outside the work tree (reused when present):
#   - the `kanidm` CLI from crates.io (kanidm_tools 1.10.4; about 16 minutes to build on 2
#     cores, once), needing Debian's libssl-dev, pkg-config and libudev-dev;
#   - the Python client `kanidm` 1.3.0 from PyPI, in a virtual environment (it declares
#     Python >= 3.12 but runs on 3.11, hence --ignore-requires-python).
# Prints the paths it set up. IDM_UPSTREAM_CACHE overrides the cache folder.
set -euo pipefail
cache=${IDM_UPSTREAM_CACHE:-$HOME/.cache/idm-upstream}
cli_version=1.10.4
cli=$cache/kanidm-$cli_version/bin/kanidm
mkdir -p "$cache"
if [ ! -x "$cli" ]; then
  if ! dpkg -s libssl-dev pkg-config libudev-dev >/dev/null 2>&1; then
    apt-get install -y -q libssl-dev pkg-config libudev-dev >/dev/null
  fi
  echo "building the upstream kanidm CLI $cli_version into $cache (once; about 16 minutes)" >&2
  start=$SECONDS
  cargo install -q kanidm_tools --version "$cli_version" --locked --root "$cache/kanidm-$cli_version"
  echo "built in $((SECONDS - start)) s" >&2
fi
py=$cache/pykanidm-1.3.0/bin/python
if [ ! -x "$py" ] || ! "$py" -c "import kanidm" 2>/dev/null; then
  python3 -m venv "$cache/pykanidm-1.3.0"
  "$cache/pykanidm-1.3.0/bin/pip" install -q --ignore-requires-python kanidm==1.3.0
fi
echo "KANIDM_UPSTREAM_CLI=$cli"
echo "KANIDM_UPSTREAM_PYTHON=$py"
