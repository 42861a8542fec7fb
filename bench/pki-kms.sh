#!/usr/bin/env bash
# Durable issuances per second with the intermediate CA key wrapped on disk
# (key=file) beside the same with the key inside a SoftHSM2 token
# (key=softhsm), in the same run, round after round; prints every run and
# the medians. Needs softhsm2 (apt-get install softhsm2 opensc).
#
#   bench/pki-kms.sh [-n ROUNDS]     (default 5)
set -euo pipefail
rounds=5
while getopts "n:h" o; do
  case $o in
    n) rounds=$OPTARG ;;
    *) sed -n '2,7p' "$0"; exit 2 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "pki-kms.sh: -n wants a positive count" >&2; exit 2; }
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "nproc: $(nproc); $(go version); softhsm2 $(dpkg-query -W -f '${Version}' softhsm2 2>/dev/null || echo '?')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -run '^$' -bench 'SignCSRKeyPlace' -benchtime 2s -count "$rounds" ./pki/ | grep '^Benchmark' | tee "$out"
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "medians over $rounds rounds:"
for b in key=file/callers=1 key=softhsm/callers=1 key=file/callers=16 key=softhsm/callers=16; do
  m=$(grep "^BenchmarkSignCSRKeyPlace/$b-" "$out" | awk '{ for (i = 1; i <= NF; i++) if ($i == "issuances/s") print $(i - 1) }' | median)
  c=$(grep "^BenchmarkSignCSRKeyPlace/$b-" "$out" | awk '{ for (i = 1; i <= NF; i++) if ($i == "cpu-µs/op") print $(i - 1) }' | median)
  printf "  %-24s %10.0f issuances/s  %6.0f CPU-µs each\n" "$b" "$m" "$c"
done
