#!/usr/bin/env bash
# Benchmark of `intransit tls proxy` beside stunnel4, same target, same run:
# throughput through one connection and full handshakes per second.
# Loopback only; every loop is bounded. Prints the Markdown table.
#   bench/tlsproxy.sh [extra flags for bench/tlsproxy, e.g. -runs 7]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v stunnel4 >/dev/null || { echo "stunnel4 is not installed (apt-get install stunnel4)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/intransit" ./cmd/intransit
go build -o "$work/bench" ./bench/tlsproxy
# An ECDSA P-256 CA and server certificate, made with openssl so that both
# proxies load the same files.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=bench CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 1 -sha256 -extfile "$work/ext" -out "$work/server.pem" 2>/dev/null
echo "nproc: $(nproc); $(go version); $(stunnel4 -version 2>&1 | grep -m1 '^stunnel'); $(openssl version)" >&2
"$work/bench" -intransit "$work/intransit" -stunnel "$(command -v stunnel4)" \
  -cert "$work/server.pem" -key "$work/server.key" -ca "$work/ca.pem" "$@"
