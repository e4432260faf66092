#!/usr/bin/env bash
# Latency of every web UI page at 100k persons / 1k groups (each person in 5 groups): the
# release server loaded through `kanidm raw create`, then `ui_bench` walks every page ROUNDS
# times as one browser (keep-alive TLS, loopback). Target: every page <= 20 ms server time
# (the password steps are the password hash's own cost: argon2id, about 20 ms a hash here).
# BIN_DIR=DIR runs the kanidmd and kanidm found there instead of building this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench_server.sh
bench_dataset
[ -n "${BIN_DIR:-}" ] || cargo build --release -q -p kanidmd -p kanidm
cargo build --release -q -p idm_testkit --bin ui_bench
start_bench_server
KANIDM_PASSWORD=$pw "$k/kanidm" login -H "$url" -C insecure/ca.pem -D idm_admin >/dev/null
"$k/kanidm" raw create -H "$url" -C insecure/ca.pem -D idm_admin "$repo/$ds/persons.json" >/dev/null
"$k/kanidm" raw create -H "$url" -C insecure/ca.pem -D idm_admin "$repo/$ds/groups.json" >/dev/null
echo "loaded 100000 persons and 1000 groups"
"$repo/target/release/ui_bench" "$url" insecure/ca.pem "$pw" "$url" user050000 "${ROUNDS:-100}"
