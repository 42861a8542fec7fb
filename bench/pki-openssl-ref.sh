#!/usr/bin/env bash
# Reference for the PKI issuance benchmark: what an easy-rsa-like setup costs
# per certificate. It signs one CSR with `openssl x509 -req -CA -CAkey` in a
# loop (a new process each time, as easy-rsa and hand-run openssl do), with
# an ECDSA P-256 intermediate like intransit's default, and prints the
# certificates per second. There is no durable record: this is the signing
# alone.
#
# usage: bench/pki-openssl-ref.sh [RUNS]   (default 200)
set -euo pipefail
runs=${1:-200}
command -v openssl >/dev/null || { echo "openssl is not installed" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
	-subj /CN=ref-ca -days 30 -out ca.crt 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
	-subj /CN=leaf -out leaf.csr 2>/dev/null
start=$(date +%s.%N)
for i in $(seq "$runs"); do
	openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAserial ca.srl -CAcreateserial \
		-days 30 -sha256 -out "leaf-$i.crt" 2>/dev/null
done
end=$(date +%s.%N)
awk -v n="$runs" -v s="$start" -v e="$end" 'BEGIN { printf "openssl x509 -req: %d certificates in %.2fs = %.1f certificates/s\n", n, e - s, n / (e - s) }'
