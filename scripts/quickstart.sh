#!/usr/bin/env bash
# Builds kanidmd, creates ./quickstart/ with a server.toml, development TLS certificates and a
# database for the domain "localhost", prints the admin and idm_admin passwords, and starts the
# server on https://localhost:8443 (Ctrl-C stops it). Run it again to start the same server.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p kanidmd
k=$PWD/target/release/kanidmd
mkdir -p quickstart/data
cd quickstart
if [ ! -f server.toml ]; then
  cat > server.toml <<'TOML'
bindaddress = "127.0.0.1:8443"
db_path = "data/kanidm.db"
domain = "localhost"
origin = "https://localhost:8443"
tls_chain = "insecure/chain.pem"
tls_key = "insecure/key.pem"
[online_backup]
path = "backups"
TOML
fi
[ -f insecure/chain.pem ] || "$k" cert_generate -c server.toml
if [ ! -f data/kanidm.db ]; then
  "$k" recover_account -c server.toml admin
  "$k" recover_account -c server.toml idm_admin
  echo "Save these passwords; run \`$k recover_account -c $PWD/server.toml NAME\` to set new ones."
fi
echo "CA for clients: $PWD/insecure/ca.pem"
exec "$k" server -c server.toml
