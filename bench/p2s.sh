#!/usr/bin/env bash
# Point-to-site gateway at scale, beside stock wireguard-go, in one run.
#
#   bench/p2s.sh [-n CLIENTS] [-r ROUNDS] [-c CONCURRENCY] [-s SETTLE] [-m GOMEMLIMIT] [-g GOGC] [-o DIR] [-x] [-f FLOOD] [-R REV]
#
#   bench/p2s.sh -n 1000 -r 3 -s 30s                  # connect time, beside stock
#   bench/p2s.sh -n 10000 -r 1 -s 60s -x -m 900MiB    # 10,000 held, with the unit's limit
#   bench/p2s.sh -n 1000 -r 5 -s 5s -x -f 2000        # connects/s and CPU per connect, with and without a flood
#   bench/p2s.sh -n 2000 -r 3 -s 40s -x -R main       # before (main) and after (this tree) in one run
#
# Wrap it in the shared lock on a shared machine:
#   flock /tmp/intransit-bench.lock bench/p2s.sh ...
#
#   p2s     intransitd with a p2s section on loopback in a private network
#           namespace; bench/p2sload connects CLIENTS simulated laptops, each a
#           wireguard-go device with its own UDP socket and its own control
#           session (TLS 1.3 mTLS, pq profile, admission, lease, first X-Wing
#           PSK rotation); a client is connected once its WireGuard handshake
#           completed and a ping from its tunnel address to the gateway's
#           (10.128.0.0) came back through the tunnel. Reports the time for all
#           to connect, per-client latency, and the gateway's RSS before and
#           after (VmRSS), live heap, stacks, goroutines, GC cycles and CPU.
#   stock   reference: the stock wireguard-go binary with CLIENTS static peers
#           (set over UAPI), each handshaking and pinging once from the same
#           kind of simulated device. Same measurements. -x skips it.
#   flood   with -f CONNS, each round also runs p2s again on a fresh gateway
#           while the attacker of netns-tests/flood holds CONNS idle
#           connections (reopened as they close) to the control port, from
#           127.0.0.2 so that the gateway's per-source admission limit
#           counts it apart from the clients on 127.0.0.1. The flood starts
#           5 s before the first client and is stopped after the settle
#           time (it lasts at most 5 minutes); its summary line is printed.
#   p2s @REV  with -R REV, each round also runs intransitd built from git
#           revision REV (git archive into a temporary directory, then go
#           build) the same way, beside this tree's: "intransit p2s @REV"
#           rows, so that before and after a change are measured in one run.
#           The load generator and the gateway's configuration are this
#           tree's (REV must read it). The two alternate which goes first
#           from round to round, so that machine noise hits them alike. The
#           flood (-f) runs against this tree's gateway only.
# Every row reports connects per second (connected / seconds) and the
# gateway's CPU per connect (its CPU time while the clients connected,
# divided by the clients connected; under a flood that includes the
# flood's cost).
# -m sets GOMEMLIMIT for intransitd (as systemd/intransitd.service does),
# e.g. -m 900MiB; -m off runs it without a limit (the default). -g sets
# GOGC for intransitd (e.g. -g 50; default: the daemon's own setting). -o keeps the
# results (results.jsonl) and the gateway's heap profile of each round
# (heap-N.pb.gz, after the settle time) and CPU profiles (cpu-N.pb.gz, the
# first 10 s of the connects; idle-cpu-N.pb.gz, the first 25 s of the
# settle time, the clients held idle), for go tool pprof, in DIR (with -R,
# REV's gateway's as heap-N-ref.pb.gz and so on).
# RSS is read before, a second after the last connect, and after SETTLE
# (default 125s: past the Go runtime's forced GC every 2 minutes and its
# scavenger, the steady state of a gateway holding its clients); memory per
# client is (steady RSS - RSS before) / clients. Clients are pre-enrolled
# (certificates issued and client records written by p2sload prepare) so
# that enrollment is not measured. Every gateway runs in a fresh namespace;
# medians over ROUNDS (default 3). Needs root and go (and git for -R).
set -euo pipefail

n=1000 rounds=3 conc=64 settle=125s memlimit=off gogc="" out="" stock=1 flood=0 ref=""
while getopts "n:r:c:s:m:g:o:xf:R:h" o; do
  case $o in
    n) n=$OPTARG ;;
    r) rounds=$OPTARG ;;
    c) conc=$OPTARG ;;
    s) settle=$OPTARG ;;
    m) memlimit=$OPTARG ;;
    g) gogc=$OPTARG ;;
    o) out=$OPTARG ;;
    x) stock=0 ;;
    f) flood=$OPTARG ;;
    R) ref=$OPTARG ;;
    *) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 2 ;;
  esac
done
for v in "$n" "$rounds" "$conc"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "p2s.sh: counts must be positive integers" >&2; exit 2; }
done
[[ $flood =~ ^[0-9]+$ ]] && (( flood <= 20000 )) || { echo "p2s.sh: -f wants a connection count up to 20000 (0: no flood)" >&2; exit 2; }
(( n <= 20000 )) || { echo "p2s.sh: at most 20000 clients" >&2; exit 2; }
[[ $settle =~ ^[0-9]+(s|m)$ ]] || { echo "p2s.sh: -s wants a duration such as 125s" >&2; exit 2; }
[[ $memlimit == off || $memlimit =~ ^[0-9]+(B|KiB|MiB|GiB)$ ]] || { echo "p2s.sh: -m wants off or a size such as 900MiB" >&2; exit 2; }
[[ -z $gogc || $gogc == off || $gogc =~ ^[1-9][0-9]*$ ]] || { echo "p2s.sh: -g wants a percentage or off" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "p2s.sh: needs root (network namespaces, TUN)" >&2; exit 2; }
# Each client holds a TCP socket in the gateway, and a TCP and a UDP
# socket in the load generator (which spreads them over several processes
# when the open-files limit is too low for all in one).
ulimit -n "$(ulimit -Hn)"
timeout=$(( n / 20 > 120 ? n / 20 : 120 ))s

cd "$(dirname "$0")/.."
if [[ -n $ref ]]; then
  git rev-parse --verify --quiet "$ref^{commit}" >/dev/null || { echo "p2s.sh: -R $ref: not a git revision" >&2; exit 2; }
fi
tmp=$(mktemp -d)
ns=""
gwpid=""
floodpid=""
cleanup() {
  [[ -n $floodpid ]] && kill "$floodpid" 2>/dev/null && wait "$floodpid" 2>/dev/null || true
  [[ -n $gwpid ]] && kill "$gwpid" 2>/dev/null && wait "$gwpid" 2>/dev/null || true
  [[ -n $ns ]] && ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/intransitd" ./cmd/intransitd
go build -o "$tmp/p2sload" ./bench/p2sload
go build -o "$tmp/wireguard-go" golang.zx2c4.com/wireguard
go build -o "$tmp/flood" ./netns-tests/flood
if [[ -n $ref ]]; then
  echo "building intransitd at $ref ($(git rev-parse --short "$ref^{commit}"))..." >&2
  mkdir "$tmp/ref"
  git archive "$ref" | tar -x -C "$tmp/ref"
  (cd "$tmp/ref" && go build -o "$tmp/intransitd-ref" ./cmd/intransitd)
  rm -rf "$tmp/ref"
fi

# derived adds connects per second and the gateway's CPU per connect to a
# result line.
derived() {
  jq -c '. + {connects_per_s: (if .seconds > 0 then .connected / .seconds else 0 end),
              gw_cpu_ms_per_connect: (if .connected > 0 then .gateway_cpu_s * 1000 / .connected else 0 end)}'
}

# fresh_ns makes $ns a new network namespace named after $1 with loopback
# up. Every gateway gets one: intransitd's fail-closed nftables blocks stay
# after it exits (by design), and would drop the next system's packets.
fresh_ns() {
  ns=itbench-p2s-$$-$1
  ip netns add "$ns"
  ip -n "$ns" link set lo up
}

# p2s_round runs one round of intransit p2s in a fresh namespace from work
# directory $1, recorded as $2; with $3 > 0, under a flood of $3
# connections; $4 is the round, $5 the suffix of its namespace and
# profiles, $6 the gateway binary.
p2s_round() {
  local work=$1 what=$2 conns=$3 r=$4 bin=$6
  fresh_ns "$r$5"
  "$tmp/p2sload" prepare -dir "$work" -n "$n"
  ip netns exec "$ns" env GOMEMLIMIT="$memlimit" ${gogc:+GOGC="$gogc"} "$bin" --config "$work/gw.yaml" 2>"$work/gw.log" &
  gwpid=$!
  for _ in $(seq 1 300); do [[ -S $work/run/status.sock ]] && break; sleep 0.1; done
  [[ -S $work/run/status.sock ]] || { echo "intransitd did not start:"; cat "$work/gw.log"; exit 1; } >&2
  if (( conns > 0 )); then
    ip netns exec "$ns" "$tmp/flood" --to 127.0.0.1:8444 --from 127.0.0.2 --conns "$conns" --for 5m >"$work/flood.out" 2>&1 &
    floodpid=$!
    sleep 5
  fi
  ip netns exec "$ns" "$tmp/p2sload" connect -dir "$work" -n "$n" -c "$conc" -settle "$settle" -timeout "$timeout" -pid "$gwpid" \
    -metrics http://127.0.0.1:9586/metrics -heapprofile "$out/heap-$r$5.pb.gz" -cpuprofile "$out/cpu-$r$5.pb.gz" \
    -idleprofile "$out/idle-cpu-$r$5.pb.gz" |
    jq -c --arg w "$what" --argjson r "$r" '.what = $w | .round = $r' | derived | tee -a "$results"
  if (( conns > 0 )); then
    kill -TERM "$floodpid"; wait "$floodpid" || true; floodpid=""
    echo "flood of $conns connections, round $r: $(cat "$work/flood.out")"
  fi
  kill "$gwpid"; wait "$gwpid" || true; gwpid=""
  ip netns del "$ns"; ns=""
}

if [[ -n $out ]]; then mkdir -p "$out"; else out=$tmp; fi
results=$out/results.jsonl
: >"$results"
refwhat="intransit p2s @$ref"
for r in $(seq 1 "$rounds"); do
  mkdir -p "$tmp/run$r" "$tmp/flood$r" "$tmp/ref$r"
  if [[ -n $ref ]] && (( r % 2 == 0 )); then
    p2s_round "$tmp/ref$r" "$refwhat" 0 "$r" "-ref" "$tmp/intransitd-ref"
  fi
  p2s_round "$tmp/run$r" "intransit p2s" 0 "$r" "" "$tmp/intransitd"
  if [[ -n $ref ]] && (( r % 2 == 1 )); then
    p2s_round "$tmp/ref$r" "$refwhat" 0 "$r" "-ref" "$tmp/intransitd-ref"
  fi
  if (( flood )); then
    p2s_round "$tmp/flood$r" "intransit p2s, flood" "$flood" "$r" "-flood" "$tmp/intransitd"
  fi
  if (( stock )); then
    fresh_ns "$r-stock"
    ip netns exec "$ns" "$tmp/p2sload" stock -n "$n" -c "$conc" -settle "$settle" -timeout "$timeout" -bin "$tmp/wireguard-go" | derived | tee -a "$results"
    ip netns del "$ns"; ns=""
  fi
done

echo
[[ -n $ref ]] && echo "(intransit p2s @$ref is intransitd built from $ref, $(git rev-parse --short "$ref^{commit}"); intransit p2s is this tree)"
echo "nproc $(nproc), $(go version | cut -d' ' -f3-), $n clients, $conc connecting at once, $rounds rounds, GOMEMLIMIT $memlimit, GOGC ${gogc:-default}, flood $flood, load $(cut -d' ' -f1-3 /proc/loadavg); medians:"
# ratio A B: A/B to two decimals, "-" when B is 0.
ratio() { jq -rn --argjson a "$1" --argjson b "$2" 'if $b != 0 then $a / $b * 100 | round / 100 else "-" end'; }
# round_ratio W F: the median over rounds of this tree's F over W's F in
# the same round (steadier than the ratio of the medians when the
# machine's load changes between rounds).
round_ratio() {
  jq -rs --arg w "$1" --arg f "$2" '
    [group_by(.round)[] | (map(select(.what == "intransit p2s"))[0][$f]) as $a | (map(select(.what == $w))[0][$f]) as $b
     | select($a != null and $b != null and $b != 0) | $a / $b] | sort
    | if length > 0 then .[(length/2|floor)] * 100 | round / 100 else "-" end' "$results"
}
med() { jq -s --arg w "$1" --arg f "$2" '[.[] | select(.what == $w) | .[$f] // 0] | sort | .[(length/2|floor)] // 0' "$results"; }
printf '%-22s %8s %10s %9s %9s %11s %14s %11s %14s %9s %10s %10s %10s %11s %7s\n' what seconds connects/s p50_ms p99_ms rss_before rss_connected rss_steady per_client_kib heap_kib stack_kib goroutines gw_cpu_s gw_cpu_ms/c failed
whats=("intransit p2s")
[[ -n $ref ]] && whats+=("$refwhat")
(( flood )) && whats+=("intransit p2s, flood")
(( stock )) && whats+=("stock wireguard-go")
for w in "${whats[@]}"; do
  printf '%-22s %8.2f %10.1f %9.1f %9.1f %11s %14s %11s %14.1f %9s %10s %10s %10.2f %11.2f %7s\n' "$w" "$(med "$w" seconds)" "$(med "$w" connects_per_s)" "$(med "$w" p50_ms)" "$(med "$w" p99_ms)" \
    "$(med "$w" rss_before_kib)" "$(med "$w" rss_connected_kib)" "$(med "$w" rss_after_kib)" "$(med "$w" per_client_kib)" \
    "$(med "$w" heap_inuse_kib)" "$(med "$w" stack_inuse_kib)" "$(med "$w" goroutines)" "$(med "$w" gateway_cpu_s)" "$(med "$w" gw_cpu_ms_per_connect)" "$(med "$w" failed)"
done
if (( flood )); then
  pc=$(med "intransit p2s" connects_per_s) fc=$(med "intransit p2s, flood" connects_per_s)
  pm=$(med "intransit p2s" gw_cpu_ms_per_connect) fm=$(med "intransit p2s, flood" gw_cpu_ms_per_connect)
  echo
  echo "ratios: connects/s flood/no flood $(ratio "$fc" "$pc"), gateway CPU per connect flood/no flood $(ratio "$fm" "$pm")"
fi
if [[ -n $ref ]]; then
  ps=$(med "intransit p2s" seconds) rs=$(med "$refwhat" seconds)
  pk=$(med "intransit p2s" per_client_kib) rk=$(med "$refwhat" per_client_kib)
  pc=$(med "intransit p2s" gateway_cpu_s) rc=$(med "$refwhat" gateway_cpu_s)
  pm=$(med "intransit p2s" gw_cpu_ms_per_connect) rfm=$(med "$refwhat" gw_cpu_ms_per_connect)
  echo
  echo "ratios of the medians, this tree/@$ref: connect time $(ratio "$ps" "$rs"), memory per client $(ratio "$pk" "$rk"), gateway CPU $(ratio "$pc" "$rc"), gateway CPU per connect $(ratio "$pm" "$rfm")"
  echo "median of the per-round ratios, this tree/@$ref: connect time $(round_ratio "$refwhat" seconds), gateway CPU per connect $(round_ratio "$refwhat" gw_cpu_ms_per_connect)"
fi
if (( stock )); then
  ps=$(med "intransit p2s" seconds) ss=$(med "stock wireguard-go" seconds)
  pk=$(med "intransit p2s" per_client_kib) sk=$(med "stock wireguard-go" per_client_kib)
  pc=$(med "intransit p2s" gateway_cpu_s) sc=$(med "stock wireguard-go" gateway_cpu_s)
  echo
  echo "ratios: connect time p2s/stock $(ratio "$ps" "$ss"), memory per client p2s/stock $(ratio "$pk" "$sk"), gateway CPU p2s/stock $(ratio "$pc" "$sc")"
fi
