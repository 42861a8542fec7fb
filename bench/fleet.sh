#!/usr/bin/env bash
# Gateways on a shared store (issue 13): the 3-member etcd store beside bolt
# in the same run, round by round so that machine noise hits both alike.
#
#   bench/fleet.sh [-n ROUNDS] [-t BENCHTIME]      (defaults 5 and 3s)
#   bench/fleet.sh -n 1 -t 5x                       # a smoke run
#
# Wrap it in the shared lock on a shared machine:
#   flock /tmp/intransit-bench.lock bench/fleet.sh ...
#
#   issuance     durable issuances per second: a CSR signed and its record
#                committed (bolt: fsync on; etcd: a quorum of 3 members on
#                loopback), 1 and 64 concurrent callers
#   connect      connects per second as far as the store bounds them: what a
#                gateway's admission asks of the store for a new client (its
#                record read, an address leased by compare-and-swap), 1 and
#                64 concurrent connects; the TLS and WireGuard handshakes of a
#                whole connect (bench/p2s.sh) come on top, alike for both
#   revocation   propagation of a revocation asked on one host to a gateway
#                on another that follows the store's feed (3-member etcd):
#                median and 99th percentile over the round's revocations
# Prints every round's figures and the medians over the rounds. Needs go and
# Debian's etcd-server (the etcd binary); no root.
set -euo pipefail
rounds=5 benchtime=3s
while getopts "n:t:h" o; do
  case $o in
    n) rounds=$OPTARG ;;
    t) benchtime=$OPTARG ;;
    *) sed -n '2,23p' "$0"; exit 2 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] && (( rounds <= 50 )) || { echo "fleet.sh: -n wants 1 to 50 rounds" >&2; exit 2; }
[[ $benchtime =~ ^[1-9][0-9]*(x|s)$ ]] || { echo "fleet.sh: -t wants a go test -benchtime such as 3s or 100x" >&2; exit 2; }
command -v etcd >/dev/null || { echo "fleet.sh: etcd is not installed (apt-get install etcd-server)" >&2; exit 2; }
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "nproc: $(nproc); $(go version); $(etcd --version | head -1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -c -o "$out.test" ./internal/statestore/
trap 'rm -f "$out" "$out.test"' EXIT
for r in $(seq "$rounds"); do
  echo "round $r"
  "$out.test" -test.run '^$' -test.bench 'Fleet' -test.benchtime "$benchtime" -test.count 1 | grep '^Benchmark' | tee -a "$out"
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# metric NAME UNIT: the median of UNIT over the rows of benchmark NAME.
metric() { grep "^Benchmark$1-" "$out" | awk -v u="$2" '{ for (i = 1; i <= NF; i++) if ($i == u) print $(i - 1) }' | median; }
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "medians over $rounds rounds:"
for kind in Issuance:issuances/s ConnectStore:connects/s; do
  b=${kind%%:*} u=${kind#*:}
  for callers in 1 64; do
    bolt=$(metric "Fleet$b/store=bolt/callers=$callers" "$u")
    etcd=$(metric "Fleet$b/store=etcd3/callers=$callers" "$u")
    ratio=$(awk -v a="$etcd" -v b="$bolt" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.2fx", a / b; else print "-" }')
    printf "  %-13s callers=%-3s bolt %10s %s   etcd (3 members) %10s %s   etcd/bolt %s\n" "$b" "$callers" "$bolt" "$u" "$etcd" "$u" "$ratio"
  done
done
printf "  revocation propagation (3-member etcd): median %s ms, p99 %s ms (medians over the rounds)\n" \
  "$(metric FleetRevocationPropagation median-ms)" "$(metric FleetRevocationPropagation p99-ms)"
