# Sourced by the benchmark scripts: starts the release `kanidmd` (or the one in BIN_DIR) in a
# fresh folder on a random loopback port, with development certificates and the origin the
# benchmark clients use, and stops it and removes the folder on exit. Call
# `start_bench_server [EXTRA_TOML]` from the repository's root; it sets
#   repo k work port url pid  and  pw (idm_admin's password), apw (admin's),
# and leaves the shell in the work folder (HOME is set to a folder inside it).
# The benchmark dataset (100k persons, 1k groups, each person in 5), made once into
# bench-data/ by the shared generator; sets `ds`.
bench_dataset() {
  ds=bench-data/100000x1000
  [ -f "$ds/persons.json" ] || python3 "${SHARED:-../shared}/bench/gen_dataset.py" 100000 1000 5 "$ds" >/dev/null
}

start_bench_server() {
  repo=$(pwd)
  k=${BIN_DIR:-$repo/target/release}
  work=$(mktemp -d /tmp/kanidm-bench.XXXXXX)
  port=$((20000 + RANDOM % 20000))
  trap 'cleanup_bench_server' EXIT
  cd "$work"
  mkdir data home
  cat > server.toml <<TOML
bindaddress = "127.0.0.1:$port"
db_path = "data/kanidm.db"
domain = "localhost"
origin = "https://localhost:$port"
tls_chain = "insecure/chain.pem"
tls_key = "insecure/key.pem"
${1:-}
TOML
  "$k/kanidmd" cert_generate -c server.toml >/dev/null
  pw=$("$k/kanidmd" recover_account -c server.toml idm_admin | awk '{print $NF}')
  apw=$("$k/kanidmd" recover_account -c server.toml admin | awk '{print $NF}')
  "$k/kanidmd" server -c server.toml 2>server.log & pid=$!
  for _ in $(seq 50); do curl -sf --cacert insecure/ca.pem "https://localhost:$port/status" >/dev/null && break; sleep 0.2; done
  url=https://localhost:$port
  export HOME=$work/home
}

cleanup_bench_server() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
