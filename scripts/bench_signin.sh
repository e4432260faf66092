#!/usr/bin/env bash
# Sign-ins per second through the HTTPS API by mechanism — password, password + TOTP, passkey
# (a software authenticator) — against the release server on an empty database, loopback only.
# BIN_DIR=DIR runs the kanidmd found there instead of building this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BIN_DIR:-}" ] || cargo build --release -q -p kanidmd
cargo build --release -q -p idm_testkit --bin signin_bench
. scripts/lib/bench_server.sh
start_bench_server
"$repo/target/release/signin_bench" "https://localhost:$port" insecure/ca.pem "$pw" "https://localhost:$port" "${TOTP_ACCOUNTS:-120}" "${SECONDS_EACH:-10}"
