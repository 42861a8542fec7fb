#!/usr/bin/env bash
# PKI benchmarks: durable issuances per second (bbolt store on disk, fsync
# on; one caller and 64 concurrent callers) beside the easy-rsa-like
# reference (`openssl x509 -req -CA -CAkey` signing one CSR, one process per
# certificate), interleaved round by round so machine noise hits both alike;
# then CRL generation for 100,000 revoked entries, and the cost of signing
# a leaf under each CA key type. Prints every run and the medians.
#
#   bench/pki.sh [-n ROUNDS] [-r OPENSSL_RUNS]     (defaults 5 and 200)
set -euo pipefail
rounds=5 oruns=200
while getopts "n:r:h" o; do
  case $o in
    n) rounds=$OPTARG ;;
    r) oruns=$OPTARG ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ && $oruns =~ ^[1-9][0-9]*$ ]] || { echo "pki.sh: -n and -r want positive counts" >&2; exit 2; }
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "nproc: $(nproc); $(go version); $(openssl version)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
  go test -run '^$' -bench 'Durable' -benchtime 2s -count 1 ./pki/ | grep '^Benchmark' | tee -a "$out"
  bench/pki-openssl-ref.sh "$oruns" | tee -a "$out"
done
go test -run '^$' -bench 'CRL100k' -benchtime 3x -count "$rounds" ./pki/ | grep '^Benchmark' | tee -a "$out"
go test -run '^$' -bench 'LeafSignature' -benchtime 1s -count "$rounds" ./pki/ | grep '^Benchmark' | tee -a "$out"

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "medians over $rounds rounds:"
ref=$(awk '/^openssl x509 -req/ { print $(NF - 1) }' "$out" | median)
for b in SignCSRDurable/callers=1 SignCSRDurable/callers=64 IssueDurable/callers=1 IssueDurable/callers=64; do
  m=$(grep "^Benchmark$b-" "$out" | awk '{ for (i = 1; i <= NF; i++) if ($i == "issuances/s") print $(i - 1) }' | median)
  c=$(grep "^Benchmark$b-" "$out" | awk '{ for (i = 1; i <= NF; i++) if ($i == "cpu-µs/op") print $(i - 1) }' | median)
  printf "  %-28s %10.0f issuances/s  (%.0fx openssl x509 -req)  %6.0f CPU-µs each: %.0f/s if the %d cores were ours\n" \
    "$b" "$m" "$(awk -v a="$m" -v b="$ref" 'BEGIN { print a / b }')" "$c" "$(awk -v c="$c" -v n="$(nproc)" 'BEGIN { print n * 1e6 / c }')" "$(nproc)"
done
printf "  %-28s %10.1f certificates/s\n" "openssl x509 -req" "$ref"
crl=$(grep '^BenchmarkCRL100k' "$out" | awk '{ print $3 / 1e6 }' | median)
crlcpu=$(grep '^BenchmarkCRL100k' "$out" | awk '{ for (i = 1; i <= NF; i++) if ($i == "cpu-ms/op") print $(i - 1) }' | median)
printf "  %-28s %10.0f ms per CRL (%.0f CPU-ms)\n" "CRL, 100,000 entries" "$crl" "$crlcpu"
for kt in ecdsa-p256 ecdsa-p384 rsa-3072 rsa-4096 ed25519; do
  m=$(grep "^BenchmarkLeafSignature/$kt-" "$out" | awk '{ print $3 / 1e3 }' | median)
  printf "  %-28s %10.0f µs per leaf certificate signed by a %s intermediate\n" "signature $kt" "$m" "$kt"
done
