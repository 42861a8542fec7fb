#!/usr/bin/env bash
# TCP throughput through the tunnel, per transport, beside the reference
# wireguard-go binary and the bare veth, measured in one run.
#
#   sudo bench/tunnel.sh [-n RUNS] [-t SECONDS] [-T "udp quic tls"] [-g GIB] [-R REF] [-P DIR]
#
# Every system gets two network namespaces joined by a veth pair (MTU 1500):
#   veth     iperf3 straight over the veth (the ceiling)
#   wggo     stock wireguard-go (go build golang.zx2c4.com/wireguard, the
#            version in go.mod) on both ends, configured with wg(8)
#   <t>      our testpeer endpoint on both ends with transport t
# iperf3 runs one TCP stream for SECONDS (default 5) from namespace a to b,
# RUNS times (default 5) per system, systems interleaved round by round (in
# reverse order every other round) so that machine noise hits them alike.
# The script prints every run, the medians, and the ratios, twice: of the
# medians, and as the median of the ratios within each round (steadier when
# the machine's load changes between rounds).
#
# Then, per system, the CPU the tunnel costs: iperf3 moves GIB GiB (default
# 1; -g 0 skips this) once more, and the script reads the user and system
# CPU time of both tunnel processes (/proc/PID/stat) before and after: CPU
# seconds per GiB moved, beside wireguard-go's. It depends far less on the
# machine's load than Mbit/s do (the kernel's share in softirq context is
# counted where it happens to run, so compare within a run). With perf(1)
# and its syscall tracepoints, also the system calls and context switches
# of both processes per GiB ("-" without perf).
#
# -R REF also builds testpeer from git revision REF (for example main) and
# runs it as system <t>-ref beside <t> for every transport: before and
# after a change in one run. -P DIR has our testpeers write CPU profiles of
# their whole run into DIR (go tool pprof -top DIR/...). Needs root, iperf3, wg, openssl, go (and git
# for -R).
set -euo pipefail

runs=5 secs=5 transports="udp" gib=1 ref="" profdir=""
while getopts "n:t:T:g:R:P:h" o; do
  case $o in
    n) runs=$OPTARG ;;
    t) secs=$OPTARG ;;
    T) transports=$OPTARG ;;
    g) gib=$OPTARG ;;
    R) ref=$OPTARG ;;
    P) profdir=$(realpath "$OPTARG") ;;
    *) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "tunnel.sh: -n wants a positive count" >&2; exit 2; }
[[ $secs =~ ^[1-9][0-9]*$ && $secs -le 60 ]] || { echo "tunnel.sh: -t wants 1..60 seconds" >&2; exit 2; }
[[ $gib =~ ^[0-9]+$ && $gib -le 16 ]] || { echo "tunnel.sh: -g wants 0..16 GiB" >&2; exit 2; }
for t in $transports; do
  case $t in udp|quic|tls) ;; *) echo "tunnel.sh: unknown transport $t (udp, quic, tls)" >&2; exit 2 ;; esac
done
[[ $(id -u) == 0 ]] || { echo "tunnel.sh: needs root (network namespaces)" >&2; exit 2; }
for c in ip iperf3 wg openssl go; do
  command -v "$c" >/dev/null || { echo "tunnel.sh: $c not found" >&2; exit 2; }
done

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/intransit-bench.XXXXXX)
prefix="itb-$$-"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Up to 5 s for them to close their devices (and write their profiles).
  for p in "${pids[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  for ns in $(ip netns list | awk -v p="$prefix" 'index($1, p) == 1 {print $1}'); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

echo "building testpeer and the reference wireguard-go..." >&2
go build -o "$work/testpeer" ./netns-tests/testpeer/cmd/testpeer
go build -o "$work/wireguard-go" golang.zx2c4.com/wireguard
if [[ -n $ref ]]; then
  echo "building testpeer at $ref..." >&2
  mkdir "$work/ref"
  git archive "$ref" | tar -x -C "$work/ref"
  (cd "$work/ref" && go build -o "$work/testpeer-ref" ./netns-tests/testpeer/cmd/testpeer)
fi

# Test CA and mTLS certificates for the quic and tls transports.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=bench-ca -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
for n in a b; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
    -keyout "$work/$n.key" -out "$work/$n.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s.bench.test\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n' "$n" >"$work/$n.ext"
  openssl x509 -req -in "$work/$n.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 1 -extfile "$work/$n.ext" -out "$work/$n.pem" 2>/dev/null
done

# topo NAME: namespaces NAME-a and NAME-b, veth 10.0.0.1/24 -- 10.0.0.2/24.
topo() {
  local a="${prefix}$1-a" b="${prefix}$1-b"
  ip netns add "$a"; ip netns add "$b"
  ip -n "$a" link set lo up; ip -n "$b" link set lo up
  ip link add eth0 netns "$a" type veth peer name eth0 netns "$b"
  ip -n "$a" addr add 10.0.0.1/24 dev eth0; ip -n "$b" addr add 10.0.0.2/24 dev eth0
  ip -n "$a" link set eth0 up; ip -n "$b" link set eth0 up
}

wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || { echo "tunnel.sh: timed out waiting for: $*" >&2; return 1; }
    sleep 0.1
  done
}

# Per system, the PIDs of its two tunnel processes (for the CPU per GiB).
declare -A procs

# ours NAME TRANSPORT BINARY: testpeer BINARY on both ends.
ours() {
  local name=$1 t=$2 bin=$3 port=51820 scheme="" mtu=1420
  local prof=()
  [[ $t == udp ]] || { port=443; scheme="$t://"; }
  [[ $t == quic ]] && mtu=1380
  topo "$name"
  local ka kb; ka=$(wg genkey); kb=$(wg genkey)
  local -A key=([a]=$ka [b]=$kb) inner=([a]=10.99.0.1 [b]=10.99.0.2) under=([a]=10.0.0.1 [b]=10.0.0.2) other=([a]=b [b]=a)
  for s in a b; do
    local o=${other[$s]} f="$work/$name-$s.yaml"
    umask 077
    cat >"$f" <<YAML
interface: wg0
private_key: ${key[$s]}
listen_port: $port
mtu: $mtu
addresses: [${inner[$s]}/24]
transport: $t
peers:
  - public_key: $(wg pubkey <<<"${key[$o]}")
    endpoint: ${scheme}${under[$o]}:$port
    allowed_ips: [${inner[$o]}/32]
YAML
    if [[ $t != udp ]]; then
      cat >>"$f" <<YAML
tls:
  cert_file: $work/$s.pem
  key_file: $work/$s.key
  ca_file: $work/ca.pem
  server_name: $o.bench.test
YAML
    fi
    prof=()
    [[ -n $profdir && $bin == "$work/testpeer" ]] && prof=(--cpu-profile "$profdir/$name-$s.pprof")
    ip netns exec "${prefix}$name-$s" "$bin" "${prof[@]}" --config "$f" --control "$work/$name-$s.sock" \
      --log-level warn 2>>"$work/$name-$s.log" &
    pids+=($!)
    procs[$name]+="$! "
    wait_for 20 test -S "$work/$name-$s.sock"
  done
}

# wggo NAME: stock wireguard-go on both ends.
wggo() {
  local name=$1
  topo "$name"
  local ka kb; ka=$(wg genkey); kb=$(wg genkey)
  local -A key=([a]=$ka [b]=$kb) inner=([a]=10.99.0.1 [b]=10.99.0.2) under=([a]=10.0.0.1 [b]=10.0.0.2) other=([a]=b [b]=a)
  for s in a b; do
    local o=${other[$s]} ns="${prefix}$name-$s" ifn="wgb$$$s"
    ifn=${ifn:0:15}
    (umask 077; printf '%s\n' "${key[$s]}" >"$work/$name-$s.key")
    ip netns exec "$ns" env WG_PROCESS_FOREGROUND=1 "$work/wireguard-go" "$ifn" >>"$work/$name-$s.log" 2>&1 &
    pids+=($!)
    procs[$name]+="$! "
    wait_for 20 test -S "/var/run/wireguard/$ifn.sock"
    ip netns exec "$ns" wg set "$ifn" private-key "$work/$name-$s.key" listen-port 51820 \
      peer "$(wg pubkey <<<"${key[$o]}")" endpoint "${under[$o]}:51820" allowed-ips "${inner[$o]}/32"
    ip -n "$ns" addr add "${inner[$s]}/24" dev "$ifn"
    ip -n "$ns" link set "$ifn" mtu 1420 up
  done
}

systems=(veth wggo)
topo veth
wggo wggo
for t in $transports; do
  if [[ -n $ref ]]; then
    ours "$t-ref" "$t" "$work/testpeer-ref"
    systems+=("$t-ref")
  fi
  ours "$t" "$t" "$work/testpeer"
  systems+=("$t")
done

for s in "${systems[@]}"; do
  dst=10.99.0.2; [[ $s == veth ]] && dst=10.0.0.2
  ip netns exec "${prefix}$s-b" iperf3 -s -D -B "$dst" >/dev/null
  wait_for 10 ip netns exec "${prefix}$s-a" ping -c1 -W1 "$dst"
done

declare -A results paired
echo "nproc $(nproc), $runs runs of ${secs}s per system, one TCP stream (Mbit/s received):"
for ((r = 1; r <= runs; r++)); do
  line="run $r:"
  order=("${systems[@]}")
  if ((r % 2 == 0)); then
    order=(); for ((i = ${#systems[@]} - 1; i >= 0; i--)); do order+=("${systems[i]}"); done
  fi
  for s in "${order[@]}"; do
    dst=10.99.0.2; [[ $s == veth ]] && dst=10.0.0.2
    mbps=$(ip netns exec "${prefix}$s-a" iperf3 -c "$dst" -t "$secs" -f m 2>&1 | awk '/receiver/ {print $(NF-2)}')
    [[ -n $mbps ]] || { echo "tunnel.sh: iperf3 through $s failed" >&2; exit 1; }
    results[$s]+="$mbps "
    line+=" $s=$mbps"
  done
  echo "$line"
  # Ratios to wireguard-go within the round: robust to load that changes
  # between rounds.
  w=$(awk -v l="$line" 'BEGIN {n = split(l, f, " "); for (i = 1; i <= n; i++) if (f[i] ~ /^wggo=/) {sub(/^wggo=/, "", f[i]); print f[i]}}')
  for s in "${systems[@]}"; do
    v=${results[$s]% }; v=${v##* }
    paired[$s]+="$(awk -v a="$v" -v b="$w" 'BEGIN {printf "%.3f", a/b}') "
  done
done

median() { # median FORMAT < "v1 v2 ..."
  tr ' ' '\n' | grep -v '^$' | sort -g |
    awk -v f="$1" '{v[NR]=$1} END {m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf f "\n", m}'
}
declare -A med
echo
echo "| system | median Mbit/s | vs wireguard-go | vs wireguard-go, median of per-round ratios | vs our udp | vs veth |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for s in "${systems[@]}"; do med[$s]=$(median %.0f <<<"${results[$s]}"); done
for s in "${systems[@]}"; do
  vw=$(awk -v a="${med[$s]}" -v b="${med[wggo]}" 'BEGIN {printf "%.2fx", a/b}')
  vu="-"; [[ -n ${med[udp]:-} ]] && vu=$(awk -v a="${med[$s]}" -v b="${med[udp]}" 'BEGIN {printf "%.2fx", a/b}')
  vv=$(awk -v a="${med[$s]}" -v b="${med[veth]}" 'BEGIN {printf "%.2fx", a/b}')
  pr=$(median %.2f <<<"${paired[$s]}")
  echo "| $s | ${med[$s]} | $vw | ${pr}x | $vu | $vv |"
done

((gib > 0)) || exit 0
cputicks() { # cputicks PID...: user+system clock ticks of the processes
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
hz=$(getconf CLK_TCK)
echo
[[ -n $ref ]] && echo "(<t>-ref is testpeer built from $ref)"
echo "CPU of both tunnel processes while iperf3 moves $gib GiB (one TCP stream):"
echo
perf=""
perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true 2>/dev/null && perf=perf
echo "| system | CPU s per GiB | vs wireguard-go | syscalls per GiB | context switches per GiB | Mbit/s of this transfer |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
declare -A cpu
for s in "${systems[@]}"; do
  [[ $s == veth ]] && continue
  dst=10.99.0.2
  read -ra ps <<<"${procs[$s]}"
  before=$(cputicks "${ps[@]}")
  xfer=(ip netns exec "${prefix}$s-a" iperf3 -c "$dst" -n "${gib}G" -f m)
  if [[ -n $perf ]]; then
    xfer=(perf stat -e raw_syscalls:sys_enter,context-switches -x, -o "$work/perf-$s.txt" -p "${ps[0]},${ps[1]}" -- "${xfer[@]}")
  fi
  mbps=$("${xfer[@]}" 2>&1 | awk '/receiver/ {print $(NF-2)}')
  [[ -n $mbps ]] || { echo "tunnel.sh: iperf3 -n through $s failed" >&2; exit 1; }
  after=$(cputicks "${ps[@]}")
  cpu[$s]=$(awk -v a="$before" -v b="$after" -v hz="$hz" -v g="$gib" 'BEGIN {printf "%.2f", (b - a) / hz / g}')
  vw=$(awk -v a="${cpu[$s]}" -v b="${cpu[wggo]}" 'BEGIN {printf "%.2fx", a/b}')
  counts="- | -"
  [[ -n $perf ]] && counts=$(awk -F, -v g="$gib" '!/^#/ && NF > 2 {v[$3] = sprintf("%.0f", $1 / g)} END {print v["raw_syscalls:sys_enter"] " | " v["context-switches"]}' "$work/perf-$s.txt")
  echo "| $s | ${cpu[$s]} | $vw | $counts | $mbps |"
done
