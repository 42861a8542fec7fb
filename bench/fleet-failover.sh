#!/usr/bin/env bash
# Failover time of two gateways on one etcd store (issue 13): the gateway
# holding a laptop is killed with SIGKILL.
#
#   bench/fleet-failover.sh [-n RUNS] [-o FILE]
#   bench/fleet-failover.sh -r FILE        # the summary of a kept output again
#
# Wrap it in the shared lock on a shared machine:
#   flock /tmp/intransit-bench.lock bench/fleet-failover.sh -n 5
#
# It runs BenchmarkFleetFailover of netns-tests (go test -bench, -count
# RUNS, every run on a fresh fleet: a 3-member etcd cluster, two gateways,
# a site host, a laptop and a remote site's gateway, in namespaces) and
# prints the median over RUNS and every run's figure, in seconds from the
# SIGKILL of the gateway holding the laptop until
#   laptop   the laptop is connected through the other gateway (same address)
#   site     the site host's ping to the laptop's tunnel address is answered
#   remote   the remote site's tunnel is up through the other gateway
# A run fails (and the script with it) when the laptop or the site host is
# not back within 10 s or the remote site within 15 s.
#
# Needs root, go, etcd (Debian package etcd-server), nft, ping and curl. One
# run takes about a minute.
set -euo pipefail

runs=5 out="" reread=""
while getopts "n:o:r:h" o; do
  case $o in
    n) runs=$OPTARG ;;
    o) out=$OPTARG ;;
    r) reread=$OPTARG ;;
    *) sed -n '2,23p' "$0"; exit 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] && (( runs <= 20 )) || { echo "fleet-failover.sh: -n wants 1 to 20 runs" >&2; exit 2; }
[[ -z $reread || -r $reread ]] || { echo "fleet-failover.sh: cannot read $reread" >&2; exit 2; }
if [[ -z $reread ]]; then
  [[ $(id -u) == 0 ]] || { echo "fleet-failover.sh: needs root (network namespaces, TUN, nftables)" >&2; exit 2; }
  for tool in go etcd nft ping curl; do
    command -v "$tool" >/dev/null || { echo "fleet-failover.sh: $tool is missing" >&2; exit 2; }
  done
fi

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
raw=${reread:-${out:-$tmp/raw.txt}}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ -z $reread ]]; then
  go test -run '^$' -bench '^BenchmarkFleetFailover$' -benchtime 1x -count "$runs" -timeout "$(( runs * 3 + 5 ))m" ./netns-tests/ | tee "$raw"
fi

# fig UNIT: the median of the runs' figures in UNIT, then every figure.
fig() {
  awk -v u="$1" '$1 ~ /^BenchmarkFleetFailover/ { for (i = 3; i < NF; i++) if ($(i+1) == u) print $i }' "$raw" | sort -g >"$tmp/$1"
  local n
  n=$(wc -l <"$tmp/$1")
  (( n > 0 )) || { echo "-"; return; }
  printf '%s s [%s]\n' "$(sed -n "$(( (n + 1) / 2 ))p" "$tmp/$1")" "$(paste -sd' ' "$tmp/$1")"
}

echo
n=$(grep -c '^BenchmarkFleetFailover' "$raw" || true)
(( n > 0 )) || { echo "fleet-failover.sh: no figures in the benchmark's output" >&2; exit 1; }
echo "fleet failover after SIGKILL of the gateway holding the laptop, medians of $n runs (every run's figure in brackets); nproc $(nproc), load $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
printf '  %-58s %s\n' "laptop connected through the other gateway after" "$(fig laptop-s)"
printf '  %-58s %s\n' "site host reaches the laptop's tunnel address after" "$(fig site-s)"
printf '  %-58s %s\n' "remote site's tunnel up through the other gateway after" "$(fig remote-s)"
