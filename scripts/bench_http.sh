#!/usr/bin/env bash
# HTTPS benchmarks at 100k persons / 1k groups: bulk load through `kanidm raw create`,
# indexed equality search throughput and latency with wrk (16 keep-alive connections),
# server memory, and password login rate. Loopback only; every loop is bounded.
# Needs: python3, wrk (apt-get install wrk).
# BIN_DIR=DIR runs the kanidmd and kanidm found there instead of building this tree (to
# compare two builds in one session).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench_server.sh
bench_dataset
[ -n "${BIN_DIR:-}" ] || cargo build --release -q -p kanidmd -p kanidm
start_bench_server '[online_backup]
path = "backups"
schedule = "@daily"'
KANIDM_PASSWORD=$pw "$k/kanidm" login -H "$url" -C insecure/ca.pem -D idm_admin >/dev/null
KANIDM_PASSWORD=$apw "$k/kanidm" login -H "$url" -C insecure/ca.pem -D admin >/dev/null
t() { local s=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $s" | bc; }
p=$(t "$k/kanidm" raw create -H "$url" -C insecure/ca.pem -D idm_admin "$repo/$ds/persons.json")
g=$(t "$k/kanidm" raw create -H "$url" -C insecure/ca.pem -D idm_admin "$repo/$ds/groups.json")
printf 'load_persons_s %.2f\nload_groups_s %.2f\nload_total_s %.2f\n' "$p" "$g" "$(echo "$p + $g" | bc)"
echo "server_rss_after_load_kib $(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
export TOKEN=$(python3 -c "import json,sys; print(json.load(open('$HOME/.cache/kanidm_tokens'))['$url']['idm_admin'])")
cpu() { awk '{print $14 + $15}' /proc/$pid/stat; }   # server user+system time, in clock ticks
c0=$(cpu)
# PERF_OUT=FILE: a perf profile of the server during the search run (perf record -F 499).
[ -n "${PERF_OUT:-}" ] && { perf record -q -F 499 -g -p "$pid" -o "$PERF_OUT" -- sleep 15 2>/dev/null & }
out=$(wrk -t2 -c16 -d20s -s "$repo/scripts/wrk_search.lua" "$url")
c1=$(cpu)
echo "$out" | grep -E "Requests/sec|requests|^p"
n=$(echo "$out" | awk '/^requests/ {print $2}' | tr -d ,)
echo "server_cpu_us_per_search $(echo "($c1 - $c0) * 1000000 / $(getconf CLK_TCK) / $n" | bc -l | cut -c1-6)"
echo "server_rss_after_search_kib $(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
# SEARCH_2022=1: the same search with a token of the 2022 form (a login with `init`).
if [ -n "${SEARCH_2022:-}" ]; then
  TOKEN=$(LOGIN_INIT=init python3 "$repo/scripts/login_rate.py" localhost "$port" insecure/ca.pem idm_admin "$pw" 1 1 --token) \
    wrk -t2 -c16 -d20s -s "$repo/scripts/wrk_search.lua" "$url" | grep -E "Requests/sec|requests|^p" | sed 's/^/token_2022 /'
fi
# The same load while online backups run back to back (issue 5).
echo "online_backup_s $(t "$k/kanidm" system backup-now -H "$url" -C insecure/ca.pem -D admin)"
( end=$((SECONDS + 20)); n=0; while [ $SECONDS -lt $end ]; do
    "$k/kanidm" system backup-now -H "$url" -C insecure/ca.pem -D admin >/dev/null; n=$((n + 1)); done
  echo "backups_during_search $n" ) &
bpid=$!
wrk -t2 -c16 -d20s -s "$repo/scripts/wrk_search.lua" "$url" | grep -E "Requests/sec|requests|^p" | sed 's/^/during_backup /'
wait "$bpid"
python3 "$repo/scripts/login_rate.py" localhost "$port" insecure/ca.pem idm_admin "$pw" 4 25
