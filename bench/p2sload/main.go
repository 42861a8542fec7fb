// Command p2sload drives the point-to-site benchmark (bench/p2s.sh): many
// simulated laptops, each a real wireguard-go device with its own UDP
// socket and its own mTLS control session, connecting to one gateway on
// loopback. A simulated laptop has no network stack: its TUN side is a
// packet channel through which it pings the gateway's tunnel address once
// the WireGuard handshake completed, so that a connected client is one
// whose packets came back through the tunnel.
//
//	p2sload prepare -dir D -n N           PKI, gateway certificate and config, N enrolled clients
//	p2sload connect -dir D -n N -pid P    connect N clients to intransitd (pid P); report time and RSS
//	p2sload stock -dir D -n N -bin WG     the reference: stock wireguard-go with N static peers
//	p2sload session -n N                  memory of N control sessions (both ends) in this process
//	p2sload clients -dir D                a shard of connect: the clients whose numbers arrive on stdin
//
// Every loop is bounded by -n and by -timeout. Output is one JSON line.
package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/device"

	"intransit/p2s"
	"intransit/p2s/store/bolt"
	"intransit/pki"
	"intransit/pki/keywrap"
	"intransit/tlspolicy"
	"intransit/tunnel"
	"intransit/tunnel/control"
	"intransit/tunnel/pqpsk"
)

// Fixed loopback endpoints of the benchmark gateway.
const (
	gwAddr      = "127.0.0.1"
	controlPort = 8444
	udpPort     = 51821
	stockPort   = 51900
	site        = "10.1.0.0/24"
	// gwTunnel is the gateway's address on its tunnel interface (the
	// pool's prefix address, p2s/pool); every client pings it through the
	// tunnel.
	gwTunnel = "10.128.0.0"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: p2sload prepare|connect|stock [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "prepare":
		err = prepare(os.Args[2:])
	case "connect":
		err = connect(os.Args[2:])
	case "stock":
		err = stock(os.Args[2:])
	case "session":
		err = sessions(os.Args[2:])
	case "clients":
		err = clients(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2sload:", err)
		os.Exit(1)
	}
}

// clientFile holds one simulated client's certificate chain and key.
func clientFile(dir string, i int) string {
	return filepath.Join(dir, "clients", fmt.Sprintf("c%05d.pem", i))
}

func prepare(args []string) error {
	fs := flag.NewFlagSet("prepare", flag.ExitOnError)
	dir := fs.String("dir", "", "work directory")
	n := fs.Int("n", 1000, "clients")
	fs.Parse(args)
	if *dir == "" || *n < 1 || *n > 60000 {
		return errors.New("prepare: -dir and 1 <= -n <= 60000 are required")
	}
	ctx := context.Background()
	raw := make([]byte, keywrap.KeySize)
	for i := range raw {
		raw[i] = byte(i*7 + 3)
	}
	secret, err := keywrap.RawKey(raw)
	if err != nil {
		return err
	}
	ca, err := pki.Init(ctx, pki.InitOptions{Dir: filepath.Join(*dir, "pki"), Name: "bench", Secret: secret})
	if err != nil {
		return err
	}
	defer ca.Close()
	gw, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: "gw", DNSNames: []string{"gw.bench"},
		IPAddresses: []net.IP{net.ParseIP(gwAddr)}}, pki.ECDSAP256)
	if err != nil {
		return err
	}
	files, err := ca.WriteIssued(filepath.Join(*dir, "issued"), gw)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "ca.pem"), ca.Bundle(), 0o644); err != nil {
		return err
	}
	crl, err := ca.CurrentCRL(ctx)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "crl.pem"), pki.PEMCRL(crl.DER), 0o644); err != nil {
		return err
	}
	st, err := bolt.Open(filepath.Join(*dir, "state", "p2s", bolt.FileName))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := os.MkdirAll(filepath.Join(*dir, "clients"), 0o700); err != nil {
		return err
	}
	for i := range *n {
		name := fmt.Sprintf("c%05d", i)
		is, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileClient, Name: name}, pki.ECDSAP256)
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKCS8PrivateKey(is.Key)
		if err != nil {
			return err
		}
		var b []byte
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.Certificate.Raw})...)
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Intermediate().Raw})...)
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
		if err := os.WriteFile(clientFile(*dir, i), b, 0o600); err != nil {
			return err
		}
		if err := st.PutClient(ctx, p2s.Client{Name: name, Group: "bench", Enrolled: time.Now(), Serials: []string{pki.FormatSerial(is.Certificate.SerialNumber)}}); err != nil {
			return err
		}
	}
	cfg := fmt.Sprintf(`state_dir: %[1]s/state
status_socket: %[1]s/run/status.sock
identity: {cert: %[2]s, key: %[3]s, ca: %[1]s/ca.pem, crl: %[1]s/crl.pem}
listen: {control: %[4]s:8443, udp: %[4]s:51820}
site_prefixes: [%[5]s]
remotes: []
metrics_listen: 127.0.0.1:9586
metrics_pprof: true
p2s:
  listen: {control: %[4]s:%[6]d, udp: %[4]s:%[7]d}
  admin_socket: %[1]s/run/p2s.sock
  client_keepalive: 25s
  pools: [10.128.0.0/16]
  groups: [{name: bench}]
`, *dir, files.Chain, files.Key, gwAddr, site, controlPort, udpPort)
	return os.WriteFile(filepath.Join(*dir, "gw.yaml"), []byte(cfg), 0o600)
}

// sim is one simulated client: a wireguard-go device on a packet TUN of
// its own (pingTUN) and a UDP socket of its own (udpBind).
type sim struct {
	dev  *device.Device
	tun  *pingTUN
	addr netip.Addr
}

func (s *sim) close() {
	if s.dev != nil {
		s.dev.Close()
	}
}

func hexKey(k [32]byte) string { return hex.EncodeToString(k[:]) }

// handshaked reports whether the device's only peer completed a handshake.
func handshaked(d *device.Device) bool {
	get, err := d.IpcGet()
	if err != nil {
		return false
	}
	for _, line := range strings.Split(get, "\n") {
		if v, ok := strings.CutPrefix(line, "last_handshake_time_sec="); ok && v != "0" {
			return true
		}
	}
	return false
}

// waitHandshake waits for the handshake, re-creating the peer (a new
// initiation) after 100 ms and then at doubling intervals up to 1 s, as the
// real client does (p2s/client's selector).
func waitHandshake(ctx context.Context, d *device.Device, peerConf string, pub [32]byte) error {
	wait := 100 * time.Millisecond
	retry := time.Now().Add(wait)
	for ctx.Err() == nil {
		if handshaked(d) {
			return nil
		}
		if time.Now().After(retry) {
			if err := d.IpcSet(fmt.Sprintf("public_key=%s\nremove=true\n", hexKey(pub))); err != nil {
				return err
			}
			if err := d.IpcSet(peerConf); err != nil {
				return err
			}
			wait = min(2*wait, time.Second)
			retry = time.Now().Add(wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ctx.Err()
}

// controlClient runs one client's control session until ctx ends; ready is
// called once the WireGuard handshake completed (or with the error).
func controlClient(ctx context.Context, dir string, i int, prof *tlspolicy.Profile, cas tlspolicy.CASource, ready func(error)) {
	var once sync.Once
	done := func(err error) { once.Do(func() { ready(err) }) }
	cert, err := tls.LoadX509KeyPair(clientFile(dir, i), clientFile(dir, i))
	if err != nil {
		done(err)
		return
	}
	cfg, err := tlspolicy.ControlClientConfig(tlspolicy.Options{Profile: prof, CAs: cas, ServerName: gwAddr,
		Certificate: &tlspolicy.StaticCertificate{Cert: cert}})
	if err != nil {
		done(err)
		return
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: clientSource(i)}}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(gwAddr, strconv.Itoa(controlPort)))
	if err != nil {
		done(err)
		return
	}
	var s *sim
	var key tunnel.PrivateKey
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	key, err = tunnel.GeneratePrivateKey()
	if err != nil {
		done(err)
		return
	}
	var gwKey [32]byte
	var peerConf string
	sess, err := control.New(tls.Client(c, cfg), control.Config{
		Role: control.Initiator, Kind: control.KindClient, WireGuardKey: [32]byte(key.PublicKey()), Signer: cert.PrivateKey.(crypto.Signer),
		Admit: func(_ context.Context, p *control.Peer) (*control.Admission, error) {
			var err error
			s, err = newSim(p.Assignment.Addresses, key)
			if err != nil {
				return nil, err
			}
			gwKey = p.WireGuardKey
			return &control.Admission{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, nil
		},
		InstallPSK: func(_ context.Context, p *control.Peer, epoch uint64, psk pqpsk.PSK) error {
			var b strings.Builder
			fmt.Fprintf(&b, "public_key=%s\npreshared_key=%s\nendpoint=%s:%d\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=%s/32\n",
				hexKey(gwKey), hexKey([32]byte(psk)), gwAddr, udpPort, gwTunnel)
			for _, r := range p.Routes.Accepted {
				fmt.Fprintf(&b, "allowed_ip=%s\n", r)
			}
			peerConf = b.String()
			if err := s.dev.IpcSet(peerConf); err != nil {
				return err
			}
			if epoch == 1 {
				go func() {
					err := waitHandshake(ctx, s.dev, peerConf, gwKey)
					if err == nil {
						err = s.ping(ctx, netip.MustParseAddr(gwTunnel))
					}
					done(err)
				}()
			}
			return nil
		},
	})
	if err != nil {
		c.Close()
		done(err)
		return
	}
	err = sess.Run(ctx)
	done(err)
}

// clientSource is the loopback address client i connects from:
// 127.1.0.1 onwards, one per client as laptops have, so that the
// gateway's per-source admission limit sees each client alone (the flood
// of bench/p2s.sh comes from 127.0.0.2).
func clientSource(i int) net.IP {
	return net.IPv4(127, 1+byte(i/(250*250)), byte(i/250%250), byte(i%250+1))
}

// newSim starts a simulated client's device with key, its tunnel
// address the first of addrs.
func newSim(addrs []netip.Addr, key tunnel.PrivateKey) (*sim, error) {
	if len(addrs) == 0 {
		return nil, errors.New("no tunnel address")
	}
	t := newPingTUN()
	d := device.NewDevice(t, &udpBind{}, device.NewLogger(device.LogLevelSilent, ""))
	if err := d.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=0\n", hexKey([32]byte(key)))); err != nil {
		d.Close()
		return nil, fmt.Errorf("configure the simulated device: %w", err)
	}
	if err := d.Up(); err != nil {
		d.Close()
		return nil, fmt.Errorf("bring the simulated device up: %w", err)
	}
	return &sim{dev: d, tun: t, addr: addrs[0]}, nil
}

// ping sends ICMP echo requests from the client's tunnel address to dst
// through the tunnel until a reply comes back: the proof that packets flow
// both ways. It retries every 250 ms until ctx ends.
func (s *sim) ping(ctx context.Context, dst netip.Addr) error {
	req := echoRequest(s.addr, dst)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case s.tun.out <- req:
		case <-ctx.Done():
			return fmt.Errorf("ping %s through the tunnel: %w", dst, ctx.Err())
		}
		for wait := true; wait; {
			select {
			case p := <-s.tun.in:
				if isEchoReply(p, dst, s.addr) {
					return nil
				}
			case <-t.C:
				wait = false
			case <-ctx.Done():
				return fmt.Errorf("ping %s through the tunnel: %w", dst, ctx.Err())
			}
		}
	}
}

// echoRequest is an IPv4 ICMP echo request from src to dst.
func echoRequest(src, dst netip.Addr) []byte {
	p := make([]byte, 20+8+8)
	p[0], p[8], p[9] = 0x45, 64, 1 // version and header length, TTL, ICMP
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	copy(p[12:16], src.AsSlice())
	copy(p[16:20], dst.AsSlice())
	binary.BigEndian.PutUint16(p[10:], inetChecksum(p[:20]))
	icmp := p[20:]
	icmp[0] = 8 // echo request
	copy(icmp[8:], "p2sload!")
	binary.BigEndian.PutUint16(icmp[2:], inetChecksum(icmp))
	return p
}

// inetChecksum is the internet checksum (RFC 1071) of b.
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// isEchoReply reports whether p is an IPv4 ICMP echo reply from src to dst.
func isEchoReply(p []byte, src, dst netip.Addr) bool {
	if len(p) < 28 || p[0]>>4 != 4 || p[9] != 1 || p[20] != 0 {
		return false
	}
	from, _ := netip.AddrFromSlice(p[12:16])
	to, _ := netip.AddrFromSlice(p[16:20])
	return from == src && to == dst
}

// rssKiB reads VmRSS of a process.
func rssKiB(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, errors.New("no VmRSS")
}

// result is one run's report.
type result struct {
	What        string  `json:"what"`
	Clients     int     `json:"clients"`
	Connected   int     `json:"connected"`
	Failed      int     `json:"failed"`
	FirstError  string  `json:"first_error,omitempty"`
	Seconds     float64 `json:"seconds"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	RSSBeforeKB int     `json:"rss_before_kib"`
	// RSSConnectedKB is the RSS a second after the last client connected,
	// RSSAfterKB after the settle time (long enough for the Go runtime's
	// periodic GC and scavenger: the steady state of a gateway holding
	// its clients); PerClientKB is computed from the latter.
	RSSConnectedKB int     `json:"rss_connected_kib"`
	RSSAfterKB     int     `json:"rss_after_kib"`
	PerClientKB    float64 `json:"per_client_kib"`
	// HeapInuseKB and Goroutines come from the gateway's metrics, when
	// given: the live heap against RSS, which also holds GC headroom.
	HeapInuseKB int `json:"heap_inuse_kib,omitempty"`
	// StackInuseKB is the memory of the gateway's goroutine stacks.
	StackInuseKB int `json:"stack_inuse_kib,omitempty"`
	// GCCycles is how many collections the gateway ran since it started.
	GCCycles int `json:"gc_cycles,omitempty"`
	// SettleCPU is the CPU seconds the gateway spent holding its clients
	// during the settle time (keepalives, and collections).
	SettleCPU float64 `json:"gateway_settle_cpu_s"`
	// GatewayCPU and LoaderCPU are the CPU seconds the gateway and this
	// load generator spent while the clients connected.
	GatewayCPU float64 `json:"gateway_cpu_s"`
	LoaderCPU  float64 `json:"loader_cpu_s"`
	Goroutines int     `json:"goroutines,omitempty"`
}

// raiseNoFile lifts the open-files limit: every client holds a TCP and a
// UDP socket. Root may raise the hard limit too (up to fs.nr_open).
func raiseNoFile() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return
	}
	const want = 1 << 20
	if l.Max < want && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) == nil {
		return
	}
	l.Cur = l.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

// run starts n clients with at most conc connecting at once, waits for all
// (bounded by timeout: the clients not connected by then count as failed)
// and measures the gateway's RSS before and after.
// The CPU of the load generator is that of this process and of the pids in
// loaders (its shard processes).
// idle, when not nil, runs beside the settle time (given), from its start.
func run(what string, n, conc, pid int, loaders []int, timeout, settle time.Duration, start func(ctx context.Context, i int, ready func(error)), idle func(time.Duration), measure func(*result)) (*result, error) {
	raiseNoFile()
	before, err := rssKiB(pid)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	deadline, dcancel := context.WithTimeout(ctx, timeout)
	defer dcancel()
	res := &result{What: what, Clients: n, RSSBeforeKB: before}
	loaders = append(loaders, os.Getpid())
	loaderCPU := func() float64 {
		var sum float64
		for _, p := range loaders {
			sum += cpuSeconds(p)
		}
		return sum
	}
	gcpu0, lcpu0 := cpuSeconds(pid), loaderCPU()
	sem := make(chan struct{}, conc)
	var wg, running sync.WaitGroup
	var mu sync.Mutex
	var lat []float64
	var failed atomic.Int64
	t0 := time.Now()
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-deadline.Done():
		}
		if deadline.Err() != nil {
			failed.Add(int64(n - i))
			break
		}
		wg.Add(1)
		running.Add(1)
		began := time.Now()
		go func() {
			defer running.Done()
			start(ctx, i, func(err error) {
				<-sem
				mu.Lock()
				if err != nil {
					failed.Add(1)
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					lat = append(lat, float64(time.Since(began).Microseconds())/1000)
				}
				mu.Unlock()
				wg.Done()
			})
		}()
	}
	// A client that has not connected by the deadline counts as failed,
	// so that one lost reply cannot hold the run.
	allReady := make(chan struct{})
	go func() { wg.Wait(); close(allReady) }()
	select {
	case <-allReady:
	case <-deadline.Done():
	}
	res.Seconds = time.Since(t0).Seconds()
	res.GatewayCPU, res.LoaderCPU = cpuSeconds(pid)-gcpu0, loaderCPU()-lcpu0
	time.Sleep(time.Second)
	if res.RSSConnectedKB, err = rssKiB(pid); err != nil {
		return nil, err
	}
	settled := cpuSeconds(pid)
	var idling sync.WaitGroup
	if idle != nil {
		idling.Go(func() { idle(settle) })
	}
	time.Sleep(settle)
	idling.Wait()
	res.SettleCPU = cpuSeconds(pid) - settled
	after, err := rssKiB(pid)
	if err != nil {
		return nil, err
	}
	res.RSSAfterKB = after
	if measure != nil {
		measure(res)
	}
	mu.Lock()
	lat = append([]float64(nil), lat...)
	if res.FirstError == "" && len(lat)+int(failed.Load()) < n {
		res.FirstError = fmt.Sprintf("not connected within %s", timeout)
	}
	mu.Unlock()
	res.Connected = len(lat)
	res.Failed = n - res.Connected
	if res.Connected > 0 {
		res.PerClientKB = float64(after-before) / float64(res.Connected)
		sort.Float64s(lat)
		res.P50ms = lat[len(lat)/2]
		res.P99ms = lat[len(lat)*99/100]
	}
	cancel()
	running.Wait()
	return res, nil
}

func connect(args []string) error {
	fs := flag.NewFlagSet("connect", flag.ExitOnError)
	dir := fs.String("dir", "", "work directory (from prepare)")
	n := fs.Int("n", 1000, "clients")
	conc := fs.Int("c", 64, "clients connecting at once")
	pid := fs.Int("pid", 0, "pid of intransitd")
	timeout := fs.Duration("timeout", 120*time.Second, "give up after")
	metrics := fs.String("metrics", "", "the gateway's Prometheus URL (heap and goroutines are reported)")
	cpuProfile := fs.String("cpuprofile", "", "write the gateway's CPU profile of the first -cpuseconds of the connects to this file")
	cpuSecs := fs.Int("cpuseconds", 10, "length of the CPU profile")
	procs := fs.Int("procs", 0, "processes to spread the clients over (0: as many as the open-files limit needs)")
	idleProfile := fs.String("idleprofile", "", "write the gateway's CPU profile of the settle time (its first 25 s at most: the clients held idle) to this file")
	profile := fs.String("heapprofile", "", "write the gateway's heap profile (from /debug/pprof/heap next to -metrics) to this file after the settle time")
	settle := fs.Duration("settle", 125*time.Second, "wait after the last connect before the steady-state RSS")
	fs.Parse(args)
	if *dir == "" || *pid == 0 || *n < 1 {
		return errors.New("connect: -dir, -pid and -n are required")
	}
	prof, cas, err := clientTLS(*dir)
	if err != nil {
		return err
	}
	start := func(ctx context.Context, i int, ready func(error)) { controlClient(ctx, *dir, i, prof, cas, ready) }
	var pids []int
	k := *procs
	if k <= 0 {
		k = shardsFor(*n)
	}
	if k > 1 {
		shards, err := startShards(k, *dir)
		if err != nil {
			return err
		}
		defer closeShards(shards)
		for _, sh := range shards {
			pids = append(pids, sh.cmd.Process.Pid)
		}
		start = func(_ context.Context, i int, ready func(error)) { shards[i%k].start(i, ready) }
	}
	var profiled sync.WaitGroup
	defer profiled.Wait()
	if *cpuProfile != "" {
		profiled.Go(func() {
			if err := gatewayProfile(*metrics, fmt.Sprintf("profile?seconds=%d", *cpuSecs), *cpuProfile); err != nil {
				fmt.Fprintln(os.Stderr, "p2sload: CPU profile:", err)
			}
		})
	}
	idle := func(settle time.Duration) {
		if *idleProfile == "" {
			return
		}
		secs := max(1, int(min(settle-time.Second, 25*time.Second)/time.Second))
		if err := gatewayProfile(*metrics, fmt.Sprintf("profile?seconds=%d", secs), *idleProfile); err != nil {
			fmt.Fprintln(os.Stderr, "p2sload: idle CPU profile:", err)
		}
	}
	res, err := run("intransit p2s", *n, *conc, *pid, pids, *timeout, *settle, start, idle, func(r *result) {
		gatewayMetrics(*metrics, r)
		if *profile != "" {
			if err := gatewayProfile(*metrics, "heap?gc=1", *profile); err != nil {
				fmt.Fprintln(os.Stderr, "p2sload: heap profile:", err)
			}
		}
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// clientTLS returns what a simulated client's control session needs: the
// pq profile and the CAs of the bundle dir/ca.pem.
func clientTLS(dir string) (*tlspolicy.Profile, tlspolicy.CASource, error) {
	prof, err := tlspolicy.Builtin(tlspolicy.PQ)
	if err != nil {
		return nil, nil, err
	}
	bundle, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, nil, err
	}
	cas, err := parseCAs(bundle)
	if err != nil {
		return nil, nil, err
	}
	return prof, cas, nil
}

func parseCAs(b []byte) (tlspolicy.CASource, error) {
	var certs []*x509.Certificate
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	return &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(certs...)}, nil
}

// stock is the reference: the stock wireguard-go binary with n peers
// configured by UAPI, each handshaking once from its own simulated device.
func stock(args []string) error {
	fs := flag.NewFlagSet("stock", flag.ExitOnError)
	n := fs.Int("n", 1000, "clients")
	conc := fs.Int("c", 64, "clients connecting at once")
	bin := fs.String("bin", "", "stock wireguard-go binary")
	timeout := fs.Duration("timeout", 120*time.Second, "give up after")
	settle := fs.Duration("settle", 125*time.Second, "wait after the last connect before the steady-state RSS")
	fs.Parse(args)
	if *bin == "" || *n < 1 || *n > 60000 {
		return errors.New("stock: -bin and 1 <= -n <= 60000 are required")
	}
	ifname := fmt.Sprintf("wgref%d", os.Getpid()%10000)
	cmd := exec.Command(*bin, ifname)
	cmd.Env = append(os.Environ(), "WG_PROCESS_FOREGROUND=1")
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	sock := "/var/run/wireguard/" + ifname + ".sock"
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 1000 {
			return errors.New("stock wireguard-go did not open its UAPI socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	gwKey, err := tunnel.GeneratePrivateKey()
	if err != nil {
		return err
	}
	keys := make([]tunnel.PrivateKey, *n)
	var b strings.Builder
	fmt.Fprintf(&b, "set=1\nprivate_key=%s\nlisten_port=%d\n", hexKey([32]byte(gwKey)), stockPort)
	for i := range keys {
		if keys[i], err = tunnel.GeneratePrivateKey(); err != nil {
			return err
		}
		fmt.Fprintf(&b, "public_key=%s\nallowed_ip=10.128.%d.%d/32\n", hexKey([32]byte(keys[i].PublicKey())), (i+1)/256, (i+1)%256)
	}
	if err := uapiSet(sock, b.String()); err != nil {
		return err
	}
	if out, err := exec.Command("ip", "addr", "add", gwTunnel+"/16", "dev", ifname).CombinedOutput(); err != nil {
		return fmt.Errorf("ip addr add: %v: %s", err, out)
	}
	if out, err := exec.Command("ip", "link", "set", ifname, "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set up: %v: %s", err, out)
	}
	res, err := run("stock wireguard-go", *n, *conc, cmd.Process.Pid, nil, *timeout, *settle, func(ctx context.Context, i int, ready func(error)) {
		a := netip.AddrFrom4([4]byte{10, 128, byte((i + 1) / 256), byte((i + 1) % 256)})
		s, err := newSim([]netip.Addr{a}, keys[i])
		if err != nil {
			ready(err)
			return
		}
		defer s.close()
		pc := fmt.Sprintf("public_key=%s\nendpoint=127.0.0.1:%d\npersistent_keepalive_interval=25\nallowed_ip=%s\nallowed_ip=%s/32\n", hexKey([32]byte(gwKey.PublicKey())), stockPort, site, gwTunnel)
		if err := s.dev.IpcSet(pc); err != nil {
			ready(err)
			return
		}
		err = waitHandshake(ctx, s.dev, pc, [32]byte(gwKey.PublicKey()))
		if err == nil {
			err = s.ping(ctx, netip.MustParseAddr(gwTunnel))
		}
		ready(err)
		<-ctx.Done()
	}, nil, nil)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// uapiSet sends a set operation to a wireguard-go UAPI socket.
func uapiSet(sock, body string) error {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte(body + "\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "errno=0" {
		return fmt.Errorf("UAPI set: %s", strings.TrimSpace(line))
	}
	return nil
}

// gatewayMetrics reads the live heap and goroutines from the gateway's
// Prometheus endpoint; an empty URL or a failure leaves them out.
func gatewayMetrics(url string, r *result) {
	if url == "" {
		return
	}
	resp, err := http.Get(url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "go_memstats_heap_inuse_bytes":
			r.HeapInuseKB = int(v / 1024)
		case "go_memstats_stack_inuse_bytes":
			r.StackInuseKB = int(v / 1024)
		case "go_gc_duration_seconds_count":
			r.GCCycles = int(v)
		case "go_goroutines":
			r.Goroutines = int(v)
		}
	}
}

// gatewayProfile saves one of the gateway's profiles (what: "heap?gc=1",
// "profile?seconds=10") from the pprof handler beside its metrics
// (metrics_pprof).
func gatewayProfile(metricsURL, what, file string) error {
	base, ok := strings.CutSuffix(metricsURL, "/metrics")
	if !ok {
		return fmt.Errorf("metrics URL %q does not end in /metrics", metricsURL)
	}
	resp, err := http.Get(base + "/debug/pprof/" + what)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", base, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpuSeconds is the user and system CPU time of a process so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// sessions measures the memory of n control sessions, both ends in this
// process over loopback TLS (pq profile), after a forced GC: what the
// control plane holds per client on each side, without WireGuard.
func sessions(args []string) error {
	fs := flag.NewFlagSet("session", flag.ExitOnError)
	n := fs.Int("n", 300, "sessions")
	profile := fs.String("heapprofile", "", "write this process's heap profile (every allocation sampled), with every session up, to this file")
	fs.Parse(args)
	if *profile != "" {
		runtime.MemProfileRate = 1
	}
	if *n < 1 || *n > 5000 {
		return errors.New("session: 1 <= -n <= 5000")
	}
	raiseNoFile()
	dir, err := os.MkdirTemp("", "p2sload-session-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	secret, err := keywrap.RawKey(make([]byte, keywrap.KeySize))
	if err != nil {
		return err
	}
	ca, err := pki.Init(ctx, pki.InitOptions{Dir: filepath.Join(dir, "pki"), Secret: secret})
	if err != nil {
		return err
	}
	defer ca.Close()
	gw, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: "gw", IPAddresses: []net.IP{net.ParseIP(gwAddr)}}, pki.ECDSAP256)
	if err != nil {
		return err
	}
	cl, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileClient, Name: "c"}, pki.ECDSAP256)
	if err != nil {
		return err
	}
	cas := &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(ca.Intermediate(), ca.Root())}
	prof, err := tlspolicy.Builtin(tlspolicy.PQ)
	if err != nil {
		return err
	}
	chain := func(is *pki.Issued) *tlspolicy.StaticCertificate {
		return &tlspolicy.StaticCertificate{Cert: tls.Certificate{Certificate: [][]byte{is.Certificate.Raw, ca.Intermediate().Raw}, PrivateKey: is.Key}}
	}
	srvCfg, err := tlspolicy.ControlServerConfig(tlspolicy.Options{Profile: prof, CAs: cas, Certificate: chain(gw)})
	if err != nil {
		return err
	}
	cliCfg, err := tlspolicy.ControlClientConfig(tlspolicy.Options{Profile: prof, CAs: cas, ServerName: gwAddr, Certificate: chain(cl)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", gwAddr+":0")
	if err != nil {
		return err
	}
	defer ln.Close()
	install := func(context.Context, *control.Peer, uint64, pqpsk.PSK) error { return nil }
	addr := netip.MustParseAddr("10.128.0.2")
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	up := make(chan error, 2**n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := control.New(tls.Server(c, srvCfg), control.Config{Role: control.Responder, Kind: control.KindGateway,
					WireGuardKey: [32]byte{1}, Signer: gw.Key,
					Admit: func(context.Context, *control.Peer) (*control.Admission, error) {
						return &control.Admission{AllowedPrefixes: []netip.Prefix{netip.PrefixFrom(addr, 32)},
							Assignment: &control.Assignment{Addresses: []netip.Addr{addr}}}, nil
					},
					InstallPSK: func(ctx context.Context, p *control.Peer, e uint64, k pqpsk.PSK) error {
						up <- nil
						return install(ctx, p, e, k)
					}})
				if err != nil {
					up <- err
					c.Close()
					return
				}
				s.Run(ctx)
			}()
		}
	}()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap0, stack0 := ms.HeapInuse, ms.StackInuse
	for i := range *n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		s, err := control.New(tls.Client(c, cliCfg), control.Config{Role: control.Initiator, Kind: control.KindClient,
			WireGuardKey: [32]byte{byte(i), byte(i >> 8), 2}, Signer: cl.Key,
			Admit: func(context.Context, *control.Peer) (*control.Admission, error) {
				return &control.Admission{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, nil
			}, InstallPSK: install})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(ctx) }()
	}
	timeout := time.After(2 * time.Minute)
	for range *n {
		select {
		case err := <-up:
			if err != nil {
				return err
			}
		case <-timeout:
			return errors.New("session: not all sessions came up within 2 minutes")
		}
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	per := func(a, b uint64) float64 { return float64(a-b) / float64(*n) / 1024 }
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"what": "control session pairs", "sessions": *n,
		"heap_kib_per_pair": per(ms.HeapInuse, heap0), "stack_kib_per_pair": per(ms.StackInuse, stack0), "goroutines": runtime.NumGoroutine()})
}
