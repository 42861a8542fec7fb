#!/usr/bin/env bash
# Failover times under WAN failures (issue 11): intransit site-to-site and
# point-to-site beside stock WireGuard (wg-quick) and OpenVPN, in one run.
#
#   bench/failover.sh [-n RUNS] [-s SYSTEMS] [-o FILE]
#   bench/failover.sh -r FILE                     # the summary of a kept output again
#
#   bench/failover.sh -n 5                        # medians of 5, every system
#   bench/failover.sh -n 1 -s 'intransit/s2s'     # one system, once
#
# Wrap it in the shared lock on a shared machine:
#   flock /tmp/intransit-bench.lock bench/failover.sh -n 5
#
# It runs BenchmarkFailover of netns-tests (go test -bench, -count RUNS:
# the systems and scenarios interleaved, every run on fresh namespaces) and
# prints, per scenario, the median over RUNS and every run's figure. -o
# keeps go test's output in FILE; -r reads such a file (or several runs'
# outputs concatenated) and prints the summary without running anything.
# Systems (-s, a regular expression over system/side; default all):
#   intransit/s2s  site A - gateway A - WAN router - gateway B - site B
#   intransit/p2s  a laptop (intransit p2s connect) - router - gateway - site
#   wg-quick/s2s   stock WireGuard between the same gateways, brought up by
#                  wg-quick with the stock wireguard-go (this kernel has no
#                  WireGuard), PersistentKeepalive 25; no fallback transport
#   openvpn/s2s    OpenVPN 2.6 between the same gateways, TLS point-to-point,
#                  --ping 1 --ping-restart 5, remotes udp then tcp (gateway B
#                  runs one server for each)
# Scenarios, measured from the site (or laptop) host with one ping at a time:
#   block-both     the tunnel's UDP port dropped both ways on the WAN router:
#                  seconds until a ping passes (over the fallback transport);
#                  then the block lifted: seconds until back on udp
#                  (intransit: status up on udp; OpenVPN: its latest
#                  connection over udp; wg-quick: a ping passes)
#   block-out      the same with only near side -> far side dropped
#   block-in       the same with only far side -> near side dropped
#   restart        the far gateway (gateway B, or the p2s gateway) killed
#                  with SIGKILL and started again (wg-quick: wg-quick down
#                  and up): seconds until a ping passes
# "never" is a run where traffic did not come back within the bound (40 s
# after a failure, 90 s after the unblock); a median of "never" means most
# runs never did.
#
# Needs root, go, jq, nft, ping, wg and wg-quick (wireguard-tools) and, for
# openvpn/s2s, the openvpn binary (Debian package openvpn: apt-get install
# openvpn; it is a bench prerequisite only, not installed by .ci/run). Each
# scenario is bounded (about 3 minutes at most); one run of everything takes
# about 15 minutes, -n 5 about an hour and a quarter.
set -euo pipefail

runs=5 systems='.*' out="" reread=""
while getopts "n:s:o:r:h" o; do
  case $o in
    n) runs=$OPTARG ;;
    s) systems=$OPTARG ;;
    o) out=$OPTARG ;;
    r) reread=$OPTARG ;;
    *) sed -n '2,44p' "$0"; exit 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] && (( runs <= 20 )) || { echo "failover.sh: -n wants 1 to 20 runs" >&2; exit 2; }
[[ -z $reread || -r $reread ]] || { echo "failover.sh: cannot read $reread" >&2; exit 2; }
[[ -n $reread ]] || [[ $(id -u) == 0 ]] || { echo "failover.sh: needs root (network namespaces, TUN, nftables)" >&2; exit 2; }
tools=(jq)
[[ -n $reread ]] || tools+=(go nft ping wg wg-quick)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "failover.sh: $tool is missing" >&2; exit 2; }
done
if [[ -z $reread && openvpn/s2s =~ $systems ]] && ! command -v openvpn >/dev/null; then
  echo "failover.sh: openvpn is missing (apt-get install openvpn), or leave it out with -s" >&2; exit 2
fi

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
raw=${reread:-${out:-$tmp/raw.txt}}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ -z $reread ]]; then
  # 16 scenarios at most, each bounded to about 4 minutes with its setup.
  timeout=$(( runs * 16 * 4 + 10 ))m
  pattern="^BenchmarkFailover\$/^(${systems//\//)\$/^(})\$"
  go test -run '^$' -bench "$pattern" -benchtime 1x -count "$runs" -timeout "$timeout" ./netns-tests/ | tee "$raw"
fi

# One JSON line per figure: {key: system/side/scenario, unit, v}.
awk '$1 ~ /^BenchmarkFailover\// {
  name = $1; sub(/^BenchmarkFailover\//, "", name); sub(/-[0-9]+$/, "", name)
  for (i = 5; i < NF; i += 2) printf "{\"key\":\"%s\",\"unit\":\"%s\",\"v\":%s}\n", name, $(i+1), $i
}' "$raw" >"$tmp/figures.jsonl"
[[ -s $tmp/figures.jsonl ]] || { echo "failover.sh: no figures in the benchmark's output" >&2; exit 1; }

# fig KEY KIND: the median of the runs of one scenario (KIND back or udp),
# a never counting as longer than any figure, and every run's figure.
fig() {
  jq -rs --arg k "$1" --arg u "$2" '
    [.[] | select(.key == $k and (.unit == ($u + "-s") or .unit == ("never-" + $u + "-s")))
     | if .unit | startswith("never-") then {v: 1e9, s: "never", b: .v}
       elif .v < 0.1 then {v: .v, s: "<0.1"}
       else {v: .v, s: (.v * 10 | round / 10 | tostring)} end] as $r
    | if ($r | length) == 0 then "-"
      else ($r | sort_by(.v) | .[(length - 1) / 2 | floor]) as $m
        | (if $m.s == "never" then "never (>\($m.b) s)" else "\($m.s) s" end)
          + " [" + ([$r[].s] | join(" ")) + "]"
      end' "$tmp/figures.jsonl"
}
# med KEY KIND: the median alone, in seconds (1e9 for never; empty if none).
med() {
  jq -rs --arg k "$1" --arg u "$2" '
    [.[] | select(.key == $k and (.unit == ($u + "-s") or .unit == ("never-" + $u + "-s")))
     | if .unit | startswith("never-") then 1e9 else .v end] | sort
    | if length == 0 then "" else .[(length - 1) / 2 | floor] end' "$tmp/figures.jsonl"
}

echo
n=$(jq -rs '[.[] | .key + .unit] | group_by(.) | map(length) | max' "$tmp/figures.jsonl")
[[ -n $reread ]] && echo "(from $reread; load and references as of now)"
echo "failover, medians of $n runs (every run's figure in brackets); nproc $(nproc), $(go version | cut -d' ' -f3-), load $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
command -v openvpn >/dev/null && echo "reference: $(openvpn --version | head -1 | cut -d' ' -f1-2), wireguard-go $(go list -m -f '{{.Version}}' golang.zx2c4.com/wireguard)"
rows=("block-both back:UDP blocked both ways, traffic back after"
      "block-both udp:... unblocked, back on udp after"
      "block-out back:UDP blocked near -> far, traffic back after"
      "block-out udp:... unblocked, back on udp after"
      "block-in back:UDP blocked far -> near, traffic back after"
      "block-in udp:... unblocked, back on udp after"
      "restart back:far gateway restarted, traffic back after")
sys=(intransit/s2s intransit/p2s wg-quick/s2s openvpn/s2s)
for s in "${sys[@]}"; do
  jq -es --arg s "$s/" 'any(.key | startswith($s))' "$tmp/figures.jsonl" >/dev/null || continue
  echo
  echo "$s:"
  for row in "${rows[@]}"; do
    spec=${row%%:*} label=${row#*:}
    printf '  %-48s %s\n' "$label" "$(fig "$s/${spec% *}" "${spec#* }")"
  done
done

echo
echo "ratios (reference median / intransit s2s median: above 1 intransit is faster; never: the reference never came back within the bound):"
for row in "${rows[@]}"; do
  spec=${row%%:*} label=${row#*:}
  mine=$(med "intransit/s2s/${spec% *}" "${spec#* }")
  [[ -n $mine ]] || continue
  line=""
  for ref in wg-quick/s2s openvpn/s2s; do
    theirs=$(med "$ref/${spec% *}" "${spec#* }")
    [[ -n $theirs ]] || continue
    line+="  ${ref%/s2s} $(jq -n --argjson a "$mine" --argjson b "$theirs" 'if $b >= 1e9 then "never" elif $a >= 1e9 then "(intransit never)" elif $a <= 0 then "-" else ($b / $a) as $r | if $r < 0.01 then "<0.01x" elif $r < 1 then "\($r * 100 | round / 100)x" else "\($r * 10 | round / 10)x" end end' -r)"
  done
  if [[ -n $line ]]; then printf '  %-10s %-48s%s\n' "${spec% *}" "$label" "$line"; fi
done
