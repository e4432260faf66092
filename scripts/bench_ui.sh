#!/usr/bin/env bash
# Latency of every web UI page at 100k persons / 1k groups (each person in 5 groups): the
# release server loaded through `kanidm raw create`, then `ui_bench` walks every page ROUNDS
# times as one browser (keep-alive TLS, loopback). Target: every page <= 20 ms server time
# (the password steps are the password hash's own cost: argon2id, about 20 ms a hash here).
# BIN_DIR=DIR runs the kanidmd and kanidm found there instead of building this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
ds=bench-data/100000x1000
[ -f "$ds/persons.json" ] || python3 "$shared/bench/gen_dataset.py" 100000 1000 5 "$ds" >/dev/null
[ -n "${BIN_DIR:-}" ] || cargo build --release -q -p kanidmd -p kanidm
cargo build --release -q -p idm_testkit --bin ui_bench
work=$(mktemp -d /tmp/kanidm-ui.XXXXXX)
port=$((20000 + RANDOM % 20000))
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
repo=$(pwd)
k=${BIN_DIR:-$repo/target/release}
cd "$work"
mkdir data home
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
export HOME=$work/home
url=https://localhost:$port
KANIDM_PASSWORD=$pw "$k/kanidm" login -H "$url" -C insecure/ca.pem -D idm_admin >/dev/null
"$k/kanidm" raw create -H "$url" -C insecure/ca.pem -D idm_admin "$repo/$ds/persons.json" >/dev/null
"$k/kanidm" raw create -H "$url" -C insecure/ca.pem -D idm_admin "$repo/$ds/groups.json" >/dev/null
echo "loaded 100000 persons and 1000 groups"
"$repo/target/release/ui_bench" "$url" insecure/ca.pem "$pw" "$url" user050000 "${ROUNDS:-100}"
