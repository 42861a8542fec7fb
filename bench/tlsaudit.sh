#!/usr/bin/env bash
# Audit time of one local TLS endpoint: `intransit tls audit` beside sslscan
# and testssl.sh, in the same run, against the same `openssl s_server`
# (strong configuration: TLS 1.2 + 1.3, ECDHE-ECDSA AEAD suites, P-256 key).
# Prints a Markdown section with the medians of RUNS runs and the ratios.
#
#   bench/tlsaudit.sh            # RUNS=5
#   RUNS=3 bench/tlsaudit.sh
#   INTRANSIT=/path/to/intransit bench/tlsaudit.sh   # use a prebuilt binary
#
# testssl.sh runs without --fast, limited to the checks intransit makes:
# protocols (-p), each cipher per protocol (-e), server preference (-P),
# server defaults / certificate (-S), forward secrecy and groups (-f),
# renegotiation (-R) and compression/CRIME (-C).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
for tool in openssl sslscan; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done
TESTSSL=$(command -v testssl || command -v testssl.sh || true)
[ -n "$TESTSSL" ] || { echo "testssl.sh is not installed" >&2; exit 2; }

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${INTRANSIT:-}" ]; then
  cp "$INTRANSIT" "$work/intransit"
else
  go build -o "$work/intransit" ./cmd/intransit
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$work/key.pem" -out "$work/cert.pem" \
  -days 90 -nodes -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
addr="127.0.0.1:$port"
# Each measured run gets a fresh server: s_server handles one connection
# at a time, and a connection a tool leaves open must not slow the next one.
start_server() {
  openssl s_server -accept "$addr" -cert "$work/cert.pem" -key "$work/key.pem" -www -quiet \
    -no_ssl3 -no_tls1 -no_tls1_1 -groups X25519:P-256:P-384 \
    -cipher 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256' \
    >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "openssl s_server did not start" >&2; cat "$work/server.log" >&2; exit 2
}
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# seconds TOOL ARGS...: run once against a fresh server, print wall
# seconds; output goes to a log.
seconds() {
  local start end
  start_server
  start=$(date +%s.%N)
  "$@" >"$work/last.log" 2>&1 || true
  end=$(date +%s.%N)
  stop_server
  printf "%.3f\n" "$(echo "$end - $start" | bc -l)"
}
median() { sort -g | awk '{a[NR]=$1} END {printf "%.3f", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

: >"$work/intransit.t"; : >"$work/sslscan.t"; : >"$work/testssl.t"
for i in $(seq "$RUNS"); do
  seconds "$work/intransit" tls audit "$addr" --sni localhost --ca "$work/cert.pem" >>"$work/intransit.t"
  grep -q ": COMPLIANT" "$work/last.log" || { echo "intransit did not report the endpoint compliant:" >&2; cat "$work/last.log" >&2; exit 1; }
  seconds sslscan --no-colour "$addr" >>"$work/sslscan.t"
  seconds "$TESTSSL" --quiet --color 0 --warnings off -p -e -P -S -f -R -C "$addr" >>"$work/testssl.t"
  echo "run $i/$RUNS done" >&2
done

it=$(median <"$work/intransit.t"); ss=$(median <"$work/sslscan.t"); ts=$(median <"$work/testssl.t")
cat <<MD
## TLS endpoint audit (\`intransit tls audit\`)

Command: \`RUNS=$RUNS bench/tlsaudit.sh\` — $(nproc) CPUs, $(date -u +%Y-%m-%d), $(openssl version | cut -d' ' -f1-2),
sslscan $(sslscan --version 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | awk 'NF{print $1; exit}'), testssl.sh $("$TESTSSL" --version 2>/dev/null | grep -o '3\.[0-9.a-z-]*' | head -1).
Endpoint: \`openssl s_server\` on loopback (restarted before each measured run), TLS 1.2 + 1.3, three ECDHE-ECDSA AEAD suites, groups X25519/P-256/P-384, P-256 certificate.
Wall time of one full audit, median of $RUNS runs, all tools in the same run:

| tool | median (s) | ratio to intransit |
| --- | ---: | ---: |
| intransit tls audit (profile baseline) | $it | 1.0 |
| sslscan --no-colour | $ss | $(echo "$ss / $it" | bc -l | xargs printf "%.1f") |
| testssl.sh -p -e -P -S -f -R -C (no --fast) | $ts | $(echo "$ts / $it" | bc -l | xargs printf "%.0f") |

Raw times (s): intransit $(tr '\n' ' ' <"$work/intransit.t"); sslscan $(tr '\n' ' ' <"$work/sslscan.t"); testssl.sh $(tr '\n' ' ' <"$work/testssl.t").
MD
