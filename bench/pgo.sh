#!/usr/bin/env bash
# Refreshes the profile-guided optimization profiles of the binaries that
# carry packets: cmd/intransitd/default.pgo and
# netns-tests/testpeer/cmd/testpeer/default.pgo (go build picks up a
# default.pgo beside a main package by itself).
#
#   sudo bench/pgo.sh [-t SECONDS] [-T "udp quic tls"]
#
# The load: bench/tunnel.sh with our testpeers profiling their whole run
# (-P), one TCP stream per transport for SECONDS (default 10) and 1 GiB
# more for the CPU figures, udp, quic and tls by default. The daemon and
# testpeer share the packet path (package tunnel, wireguard-go and the
# transports), so one merged profile serves both. Run it on a quiet
# machine after changes to the packet path, then commit both files.
# Needs what bench/tunnel.sh needs.
set -euo pipefail

secs=10 transports="udp quic tls"
while getopts "t:T:h" o; do
  case $o in
    t) secs=$OPTARG ;;
    T) transports=$OPTARG ;;
    *) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
prof=$(mktemp -d /tmp/intransit-pgo.XXXXXX)
trap 'rm -rf "$prof"' EXIT

bench/tunnel.sh -n 1 -t "$secs" -T "$transports" -g 1 -P "$prof"
shopt -s nullglob
files=("$prof"/*.pprof)
((${#files[@]} > 0)) || { echo "pgo.sh: no profiles written" >&2; exit 1; }
go tool pprof -proto "${files[@]}" >"$prof/merged.pgo" 2>/dev/null
for d in cmd/intransitd netns-tests/testpeer/cmd/testpeer; do
  cp "$prof/merged.pgo" "$d/default.pgo"
done
echo "pgo.sh: merged ${#files[@]} profiles into cmd/intransitd/default.pgo and netns-tests/testpeer/cmd/testpeer/default.pgo" >&2
