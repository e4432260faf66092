#!/usr/bin/env bash
# Times the offline commands as whole processes at 100k persons / 1k groups / 500k
# memberships, and OpenLDAP's equivalents in the same run.
# Needs: python3, /usr/bin/time, and for the anchor: apt-get install slapd ldap-utils bc
# usage: scripts/bench_offline.sh [N_PERSONS] [N_GROUPS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000} g=${2:-1000}
shared=${SHARED:-../shared}
ds=bench-data/${n}x${g}
work=$(mktemp -d /tmp/kanidm-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -f "$ds/persons.json" ] || python3 "$shared/bench/gen_dataset.py" "$n" "$g" 5 "$ds" >/dev/null
cargo build --release -q -p kanidmd -p idm_testkit
mkdir -p "$work/data" "$work/backups"
cat > "$work/server.toml" <<TOML
db_path = "data/kanidm.db"
domain = "idm.example.com"
[online_backup]
path = "backups"
TOML
KEEP_DB="$work/data/kanidm.db" ./target/release/engine_bench "$ds" 5000 250 >/dev/null
k=$PWD/target/release/kanidmd
timed() { # name, command...
  local name=$1; shift
  ( cd "$work" && /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" ) || { cat "$work/err" >&2; exit 1; }
  read -r secs kib < "$work/time"
  printf '%-20s %8.2f s  peak %6.0f MiB\n' "$name" "$secs" "$(echo "$kib/1024" | bc -l)"
}
echo "kanidm-rs at $n persons / $g groups ($(stat -c %s "$work/data/kanidm.db") byte database)"
timed backup "$k" backup -c server.toml "$work/backup.json"
echo "  backup file: $(stat -c %s "$work/backup.json") bytes"
timed restore "$k" restore -c server.toml "$work/backup.json"
rm -f "$work"/data/kanidm.db.pre-restore-*
timed reindex "$k" reindex -c server.toml
timed verify "$k" verify -c server.toml
timed vacuum "$k" vacuum -c server.toml
timed domain_name_change "$k" domain_name_change -c server.toml -n idm2.example.com
timed verify_after "$k" verify -c server.toml
if command -v slapadd >/dev/null; then
  echo "OpenLDAP (slapd_anchor.sh):"
  bash "$shared/bench/slapd_anchor.sh" "$ds" "$work/slapd" | sed 's/^/  /'
fi
