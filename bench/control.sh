#!/usr/bin/env bash
# Cost of a post-quantum PSK rotation, beside its references, in one run.
#
#   bench/control.sh [-n ROUNDS] [-t BENCHTIME] [-c GOMAXPROCS]
#
#   rotation    BenchmarkRotationRoundTrip (tunnel/control): one rotation
#               between two running control sessions over loopback TLS 1.3
#               mTLS (tlspolicy pq profile): X-Wing keygen, encapsulation,
#               decapsulation, key schedules, four control messages
#   handshake   BenchmarkTLSHandshakeReference (tunnel/control): a fresh TCP
#               connection and full TLS 1.3 mTLS handshake with the same
#               configs (X25519MLKEM768), what a reconnect costs
#   pqpsk       BenchmarkRotation (tunnel/pqpsk): the rotation's cryptography
#               alone, both ends
#   mlkem       BenchmarkMLKEM768Reference (tunnel/pqpsk): Go's crypto/mlkem
#               ML-KEM-768 keygen + encapsulate + decapsulate
# Each round runs every benchmark once (default 7 rounds, -benchtime 1s), in
# reverse order every other round, so machine noise hits them alike; -c sets
# GOMAXPROCS for all of them (default: nproc). On a loaded machine use -c 1,
# or the two-goroutine rotation wins CPU share from the one-goroutine ones.
# Prints every run, the medians and minima, and their ratios. Needs go.
set -euo pipefail

rounds=7 benchtime=1s cpus=$(nproc)
while getopts "n:t:c:h" o; do
  case $o in
    n) rounds=$OPTARG ;;
    t) benchtime=$OPTARG ;;
    c) cpus=$OPTARG ;;
    *) sed -n '2,22p' "$0"; exit 2 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "control.sh: -n wants a positive count" >&2; exit 2; }
[[ $cpus =~ ^[1-9][0-9]*$ ]] || { echo "control.sh: -c wants a positive count" >&2; exit 2; }
[[ $benchtime =~ ^[0-9]+(s|ms|x)$ ]] || { echo "control.sh: -t wants a Go benchtime such as 1s or 500x" >&2; exit 2; }

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/control.test" ./tunnel/control
go test -c -o "$tmp/pqpsk.test" ./tunnel/pqpsk

declare -A bin=([rotation]=control [handshake]=control [pqpsk]=pqpsk [mlkem]=pqpsk)
declare -A name=([rotation]=BenchmarkRotationRoundTrip [handshake]=BenchmarkTLSHandshakeReference
                 [pqpsk]=BenchmarkRotation [mlkem]=BenchmarkMLKEM768Reference)
order=(rotation handshake pqpsk mlkem)

echo "nproc $(nproc), GOMAXPROCS $cpus, $(go version), rounds $rounds, benchtime $benchtime, load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  list=("${order[@]}")
  if ((r % 2 == 0)); then
    list=(); for ((i = ${#order[@]} - 1; i >= 0; i--)); do list+=("${order[i]}"); done
  fi
  for s in "${list[@]}"; do
    ns=$(cd "tunnel/${bin[$s]}" && "$tmp/${bin[$s]}.test" -test.run '^$' -test.bench "^${name[$s]}\$" \
           -test.benchtime "$benchtime" -test.cpu "$cpus" | awk '$1 ~ /^Benchmark/ {print $3}')
    [[ -n $ns ]] || { echo "control.sh: ${name[$s]} printed no result" >&2; exit 1; }
    echo "round $r $s $ns ns/op"
    echo "$ns" >> "$tmp/$s"
  done
done

median() { sort -n "$1" | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
minimum() { sort -n "$1" | head -1; }
echo
echo "ns/op        median      minimum"
for s in "${order[@]}"; do printf '  %-10s %10.0f %12.0f\n' "$s" "$(median "$tmp/$s")" "$(minimum "$tmp/$s")"; done
echo "ratios       of medians  of minima"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
for pair in "rotation handshake" "pqpsk mlkem" "pqpsk rotation"; do
  set -- $pair
  printf '  %-22s %5s %10s\n' "$1 / $2" "$(ratio "$(median "$tmp/$1")" "$(median "$tmp/$2")")" \
    "$(ratio "$(minimum "$tmp/$1")" "$(minimum "$tmp/$2")")"
done
