#!/usr/bin/env bash
# Installs the published Kanidm clients the compatibility tests run against our server, into a
# cache outside the work tree (reused when present):
#   - the `kanidm` CLI from crates.io (kanidm_tools 1.10.4; about 16 minutes to build on 2
#     cores, once), needing Debian's libssl-dev, pkg-config and libudev-dev;
#   - the 2022 `kanidm` CLI (kanidm_tools 1.1.0-alpha.8, from crates.io). Its own lockfile
#     no longer builds with today's Rust (wasm-bindgen 0.2.80 is refused by rustc, time 0.3.9
#     fails to compile), and without a lockfile cargo resolves its `kanidm_client =
#     "1.1.0-alpha.8"` to today's 1.10 client, which is not the 2022 client at all. So it is
#     built from the published crate (checked against its sha256) with
#     scripts/upstream/kanidm_tools-1.1.0-alpha.8.Cargo.lock: the published lock with only
#     wasm-bindgen, once_cell, serde, time 0.3 and the proc-macro crates raised to versions
#     today's rustc accepts (kanidm_client/kanidm_proto 1.1.0-alpha.8, compact_jwt 0.2 and
#     time 0.2 unchanged). About 4 minutes on one core;
#   - the Python client `kanidm` 1.3.0 from PyPI, in a virtual environment (it declares
#     Python >= 3.12 but runs on 3.11, hence --ignore-requires-python), with `pyotp` 2.9.0
#     beside it (TOTP codes computed independently of the server, for the tests);
#   - Debian's Chromium and Playwright for Python 1.65.2, for the web UI's browser tests.
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
old_version=1.1.0-alpha.8
old_cli=$cache/kanidm-$old_version/bin/kanidm
if [ ! -x "$old_cli" ]; then
  here=$(cd "$(dirname "$0")" && pwd)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "building the 2022 kanidm CLI $old_version into $cache (once; about 4 minutes)" >&2
  start=$SECONDS
  curl -sSfL -o "$work/crate.tar.gz" "https://static.crates.io/crates/kanidm_tools/kanidm_tools-$old_version.crate"
  echo "1d6a01d1613b849f19d5a5f0b17f9b35e491b470010daa4cc9701a192d025190  $work/crate.tar.gz" | sha256sum -c --quiet
  tar xzf "$work/crate.tar.gz" -C "$work"
  cp "$here/upstream/kanidm_tools-$old_version.Cargo.lock" "$work/kanidm_tools-$old_version/Cargo.lock"
  cargo build -q --release --locked --bin kanidm --manifest-path "$work/kanidm_tools-$old_version/Cargo.toml" \
    --target-dir "$work/target"
  mkdir -p "$(dirname "$old_cli")"
  cp "$work/target/release/kanidm" "$old_cli"
  echo "built in $((SECONDS - start)) s" >&2
fi
py=$cache/pykanidm-1.3.0/bin/python
if [ ! -x "$py" ] || ! "$py" -c "import kanidm" 2>/dev/null; then
  python3 -m venv "$cache/pykanidm-1.3.0"
  "$cache/pykanidm-1.3.0/bin/pip" install -q --ignore-requires-python kanidm==1.3.0
fi
# pyotp: an implementation of TOTP independent of the server's, for the second-factor tests.
"$py" -c "import pyotp" 2>/dev/null || "$cache/pykanidm-1.3.0/bin/pip" install -q pyotp==2.9.0
# A real browser for the web UI's tests: Debian's Chromium (driven headless), certutil to
# trust the test CA in its certificate store, and Playwright for Python in a virtual
# environment (its own browser download is never used: the tests launch Debian's binary).
if [ ! -x /usr/lib/chromium/chromium ] || ! command -v certutil >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium libnss3-tools >/dev/null
fi
pw=$cache/playwright-venv/bin/python
if [ ! -x "$pw" ] || ! "$pw" -c "import playwright" 2>/dev/null; then
  python3 -m venv "$cache/playwright-venv"
  "$cache/playwright-venv/bin/pip" install -q playwright==1.65.2
fi
echo "KANIDM_UPSTREAM_CLI=$cli"
echo "KANIDM_2022_CLI=$old_cli"
echo "KANIDM_UPSTREAM_PYTHON=$py"
echo "KANIDM_PLAYWRIGHT_PYTHON=$pw"
echo "KANIDM_CHROMIUM=/usr/lib/chromium/chromium"
