#!/usr/bin/env bash
# Point-to-site gateway at scale, beside stock wireguard-go, in one run.
#
#   bench/p2s.sh [-n CLIENTS] [-r ROUNDS] [-c CONCURRENCY] [-s SETTLE]
#
#   p2s     intransitd with a p2s section on loopback in a private network
#           namespace; bench/p2sload connects CLIENTS simulated laptops, each a
#           wireguard-go device on a userspace netstack TUN with its own UDP
#           socket and its own control session (TLS 1.3 mTLS, pq profile,
#           admission, lease, first X-Wing PSK rotation), and waits for every
#           WireGuard handshake. Reports the time for all to connect, per-client
#           latency, and the gateway's RSS before and after (VmRSS).
#   stock   reference: the stock wireguard-go binary with CLIENTS static peers
#           (set over UAPI), each handshaking once from the same kind of
#           simulated device. Same measurements.
# RSS is read before, a second after the last connect, and after SETTLE
# (default 125s: past the Go runtime's forced GC every 2 minutes and its
# scavenger, the steady state of a gateway holding its clients); memory per
# client is (steady RSS - RSS before) / clients. Clients are pre-enrolled (certificates issued and client records written by
# p2sload prepare) so that enrollment is not measured. Every round uses fresh
# namespaces; medians over ROUNDS (default 3). Needs root and go.
set -euo pipefail

n=1000 rounds=3 conc=64 settle=125s
while getopts "n:r:c:s:h" o; do
  case $o in
    n) n=$OPTARG ;;
    r) rounds=$OPTARG ;;
    c) conc=$OPTARG ;;
    s) settle=$OPTARG ;;
    *) sed -n '2,22p' "$0"; exit 2 ;;
  esac
done
for v in "$n" "$rounds" "$conc"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "p2s.sh: counts must be positive integers" >&2; exit 2; }
done
(( n <= 20000 )) || { echo "p2s.sh: at most 20000 clients" >&2; exit 2; }
[[ $settle =~ ^[0-9]+(s|m)$ ]] || { echo "p2s.sh: -s wants a duration such as 125s" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "p2s.sh: needs root (network namespaces, TUN)" >&2; exit 2; }

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
ns=""
gwpid=""
cleanup() {
  [[ -n $gwpid ]] && kill "$gwpid" 2>/dev/null && wait "$gwpid" 2>/dev/null || true
  [[ -n $ns ]] && ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/intransitd" ./cmd/intransitd
go build -o "$tmp/p2sload" ./bench/p2sload
go build -o "$tmp/wireguard-go" golang.zx2c4.com/wireguard

results=$tmp/results.jsonl
for r in $(seq 1 "$rounds"); do
  ns=itbench-p2s-$$-$r
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  work=$tmp/run$r
  mkdir -p "$work"
  "$tmp/p2sload" prepare -dir "$work" -n "$n"
  ip netns exec "$ns" "$tmp/intransitd" --config "$work/gw.yaml" 2>"$work/gw.log" &
  gwpid=$!
  for _ in $(seq 1 300); do [[ -S $work/run/status.sock ]] && break; sleep 0.1; done
  [[ -S $work/run/status.sock ]] || { echo "intransitd did not start:"; cat "$work/gw.log"; exit 1; } >&2
  ip netns exec "$ns" "$tmp/p2sload" connect -dir "$work" -n "$n" -c "$conc" -settle "$settle" -pid "$gwpid" -metrics http://127.0.0.1:9586/metrics | tee -a "$results"
  kill "$gwpid"; wait "$gwpid" || true; gwpid=""
  ip netns exec "$ns" "$tmp/p2sload" stock -n "$n" -c "$conc" -settle "$settle" -bin "$tmp/wireguard-go" | tee -a "$results"
  ip netns del "$ns"; ns=""
done

echo
echo "nproc $(nproc), $(go version | cut -d' ' -f3-), $n clients, $conc connecting at once, $rounds rounds; medians:"
med() { jq -s --arg w "$1" --arg f "$2" '[.[] | select(.what == $w) | .[$f]] | sort | .[(length/2|floor)]' "$results"; }
printf '%-20s %8s %9s %9s %11s %14s %11s %14s %7s\n' what seconds p50_ms p99_ms rss_before rss_connected rss_steady per_client_kib failed
for w in "intransit p2s" "stock wireguard-go"; do
  printf '%-20s %8.2f %9.1f %9.1f %11s %14s %11s %14.1f %7s\n' "$w" "$(med "$w" seconds)" "$(med "$w" p50_ms)" "$(med "$w" p99_ms)" \
    "$(med "$w" rss_before_kib)" "$(med "$w" rss_connected_kib)" "$(med "$w" rss_after_kib)" "$(med "$w" per_client_kib)" "$(med "$w" failed)"
done
ps=$(med "intransit p2s" seconds) ss=$(med "stock wireguard-go" seconds)
pk=$(med "intransit p2s" per_client_kib) sk=$(med "stock wireguard-go" per_client_kib)
pb=$(med "intransit p2s" rss_before_kib)
echo
echo "ratios: connect time p2s/stock $(jq -n "$ps/$ss*100|round/100"), memory per client p2s/stock $(jq -n "$pk/$sk*100|round/100")"
echo "projected gateway RSS for 10,000 clients: $(jq -n "($pb + 10000*$pk)/1024|round") MiB (idle RSS + 10,000 x per-client)"
