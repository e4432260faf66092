#!/usr/bin/env bash
# Sign-ins per second through the HTTPS API by mechanism — password, password + TOTP, passkey
# (a software authenticator) — against the release server on an empty database, loopback only.
# BIN_DIR=DIR runs the kanidmd found there instead of building this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BIN_DIR:-}" ] || cargo build --release -q -p kanidmd
cargo build --release -q -p idm_testkit --bin signin_bench
work=$(mktemp -d /tmp/kanidm-signin.XXXXXX)
port=$((20000 + RANDOM % 20000))
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
repo=$(pwd)
k=${BIN_DIR:-$repo/target/release}
cd "$work"
mkdir data
cat > server.toml <<TOML
bindaddress = "127.0.0.1:$port"
db_path = "data/kanidm.db"
domain = "localhost"
origin = "https://localhost:$port"
tls_chain = "insecure/chain.pem"
tls_key = "insecure/key.pem"
TOML
"$k/kanidmd" cert_generate -c server.toml >/dev/null
pw=$("$k/kanidmd" recover_account -c server.toml idm_admin | awk '{print $NF}')
"$k/kanidmd" server -c server.toml 2>server.log & pid=$!
for _ in $(seq 50); do curl -sf --cacert insecure/ca.pem "https://localhost:$port/status" >/dev/null && break; sleep 0.2; done
"$repo/target/release/signin_bench" "https://localhost:$port" insecure/ca.pem "$pw" "https://localhost:$port" "${TOTP_ACCOUNTS:-120}" "${SECONDS_EACH:-10}"
