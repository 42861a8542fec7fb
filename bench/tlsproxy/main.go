// Command tlsproxy measures `intransit tls proxy` beside stunnel4 in front of
// the same plaintext target, in the same run: throughput through one
// connection (both directions) and full handshakes per second. It starts the
// target itself, both proxies on loopback, runs the rounds interleaved and
// prints a Markdown section with medians and ratios. Every loop is bounded in
// bytes or time. bench/tlsproxy.sh builds and runs it.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	intransit, stunnel, cert, key, ca string
	runs, concurrency                 int
	bytes                             int64
	duration                          time.Duration
	group                             string
}

func main() {
	var o options
	flag.StringVar(&o.intransit, "intransit", "intransit", "intransit binary")
	flag.StringVar(&o.stunnel, "stunnel", "stunnel4", "stunnel binary")
	flag.StringVar(&o.cert, "cert", "", "server certificate (PEM)")
	flag.StringVar(&o.key, "key", "", "server key (PEM)")
	flag.StringVar(&o.ca, "ca", "", "CA of the server certificate (PEM)")
	flag.IntVar(&o.runs, "runs", 5, "rounds per measurement (the median is reported)")
	flag.IntVar(&o.concurrency, "concurrency", 4, "parallel handshake clients")
	flag.Int64Var(&o.bytes, "bytes", 512<<20, "bytes per throughput run")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of a handshake run")
	flag.StringVar(&o.group, "group", "X25519", "key exchange group the clients offer (X25519 or X25519MLKEM768)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "tlsproxy bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target, err := startTarget(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tlsproxy-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	oursAddr, stunnelAddr := freeAddr(), freeAddr()
	ours := exec.CommandContext(ctx, o.intransit, "tls", "proxy", "--listen", oursAddr, "--target", target,
		"--profile", "baseline", "--cert", o.cert, "--key", o.key)
	ours.Stderr = io.Discard
	conf := filepath.Join(dir, "stunnel.conf")
	if err := os.WriteFile(conf, []byte(stunnelConfig(stunnelAddr, target, o.cert, o.key)), 0o600); err != nil {
		return err
	}
	st := exec.CommandContext(ctx, o.stunnel, conf)
	st.Stderr = io.Discard
	for _, c := range []*exec.Cmd{ours, st} {
		if err := c.Start(); err != nil {
			return fmt.Errorf("start %s: %w", c.Path, err)
		}
		defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	}
	for _, a := range []string{oursAddr, stunnelAddr} {
		if err := waitListening(a, 10*time.Second); err != nil {
			return err
		}
	}
	cfg, err := clientConfig(o)
	if err != nil {
		return err
	}
	type system struct {
		name, addr string
		pid        int
	}
	systems := []system{{"intransit", oursAddr, ours.Process.Pid}, {"stunnel4", stunnelAddr, st.Process.Pid}}
	type series struct{ up, down, hs, upCPU, downCPU, hsCPU []float64 }
	res := map[string]*series{"intransit": {}, "stunnel4": {}}
	suites := map[string]string{}
	for r := 0; r < o.runs; r++ {
		order := systems
		if r%2 == 1 {
			order = []system{systems[1], systems[0]}
		}
		for _, s := range order {
			sr := res[s.name]
			c0, err := cpuSeconds(s.pid)
			if err != nil {
				return err
			}
			up, suite, err := throughput(s.addr, cfg, 'u', o.bytes)
			if err != nil {
				return fmt.Errorf("%s upload: %w", s.name, err)
			}
			c1, err := cpuSeconds(s.pid)
			if err != nil {
				return err
			}
			down, _, err := throughput(s.addr, cfg, 'd', o.bytes)
			if err != nil {
				return fmt.Errorf("%s download: %w", s.name, err)
			}
			c2, err := cpuSeconds(s.pid)
			if err != nil {
				return err
			}
			hs, n, err := handshakes(s.addr, cfg, o.concurrency, o.duration)
			if err != nil {
				return fmt.Errorf("%s handshakes: %w", s.name, err)
			}
			c3, err := cpuSeconds(s.pid)
			if err != nil {
				return err
			}
			gib := float64(o.bytes) / (1 << 30)
			suites[s.name] = suite
			sr.up, sr.upCPU = append(sr.up, up), append(sr.upCPU, (c1-c0)/gib)
			sr.down, sr.downCPU = append(sr.down, down), append(sr.downCPU, (c2-c1)/gib)
			sr.hs, sr.hsCPU = append(sr.hs, hs), append(sr.hsCPU, (c3-c2)*1e6/float64(n))
			fmt.Fprintf(os.Stderr, "run %d %-9s upload %8.1f MB/s (%.2f CPU-s/GiB)  download %8.1f MB/s (%.2f CPU-s/GiB)  handshakes %7.1f/s (%.0f CPU-µs each)\n",
				r+1, s.name, up, (c1-c0)/gib, down, (c2-c1)/gib, hs, (c3-c2)*1e6/float64(n))
		}
	}
	a, b := res["intransit"], res["stunnel4"]
	fmt.Printf("| measurement | intransit tls proxy | stunnel4 | ratio intransit/stunnel4 |\n|---|---|---|---|\n")
	row := func(what string, x, y []float64, unit string) {
		mx, my := median(x), median(y)
		fmt.Printf("| %s | %.2f %s | %.2f %s | %.2fx |\n", what, mx, unit, my, unit, mx/my)
	}
	row("throughput client→target (proxy decrypts), one connection", a.up, b.up, "MB/s")
	row("throughput target→client (proxy encrypts), one connection", a.down, b.down, "MB/s")
	row(fmt.Sprintf("full handshakes, %d clients", o.concurrency), a.hs, b.hs, "/s")
	row("proxy CPU per GiB, client→target (lower is better)", a.upCPU, b.upCPU, "CPU-s")
	row("proxy CPU per GiB, target→client (lower is better)", a.downCPU, b.downCPU, "CPU-s")
	row("proxy CPU per full handshake (lower is better)", a.hsCPU, b.hsCPU, "CPU-µs")
	fmt.Printf("\nNegotiated: intransit %s, stunnel4 %s; group offered by the client: %s; nproc %d; %d runs each, interleaved, medians; %d MiB per throughput run, %s per handshake run.\n",
		suites["intransit"], suites["stunnel4"], o.group, runtime.NumCPU(), o.runs, o.bytes>>20, o.duration)
	return nil
}

func stunnelConfig(listen, target, cert, key string) string {
	return strings.Join([]string{
		"foreground = yes",
		"pid =",
		"debug = 3",
		"[bench]",
		"accept = " + listen,
		"connect = " + target,
		"cert = " + cert,
		"key = " + key,
		"sslVersionMin = TLSv1.2",
		"ciphers = ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305",
		"ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
		"curves = X25519:P-256:P-384",
		"",
	}, "\n")
}

func clientConfig(o options) (*tls.Config, error) {
	pem, err := os.ReadFile(o.ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", o.ca)
	}
	group := tls.X25519
	switch o.group {
	case "X25519":
	case "X25519MLKEM768":
		group = tls.X25519MLKEM768
	default:
		return nil, fmt.Errorf("unknown group %q", o.group)
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{group}}, nil
}

// throughput moves n bytes through one connection: 'u' from the client to
// the target, 'd' from the target to the client. It returns MB/s (10^6).
func throughput(addr string, cfg *tls.Config, dir byte, n int64) (float64, string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	suite := tls.CipherSuiteName(c.ConnectionState().CipherSuite)
	hdr := make([]byte, 9)
	hdr[0] = dir
	binary.BigEndian.PutUint64(hdr[1:], uint64(n))
	start := time.Now()
	if _, err := c.Write(hdr); err != nil {
		return 0, "", err
	}
	buf := make([]byte, 256<<10)
	switch dir {
	case 'u':
		for left := n; left > 0; {
			k, err := c.Write(buf[:min(left, int64(len(buf)))])
			if err != nil {
				return 0, "", err
			}
			left -= int64(k)
		}
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			return 0, "", fmt.Errorf("no acknowledgement: %w", err)
		}
	case 'd':
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, n), buf); err != nil {
			return 0, "", err
		}
	}
	return float64(n) / time.Since(start).Seconds() / 1e6, suite, nil
}

// handshakes runs full handshakes (no resumption) from workers clients for
// d and returns completed handshakes per second and their number.
func handshakes(addr string, cfg *tls.Config, workers int, d time.Duration) (float64, int64, error) {
	var done, failed atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				done.Add(1)
				c.Close()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if f := failed.Load(); f > done.Load()/100 {
		return 0, 0, fmt.Errorf("%d of %d handshakes failed, first: %v", f, f+done.Load(), firstErr.Load())
	}
	return float64(done.Load()) / elapsed, done.Load(), nil
}

// startTarget serves the plaintext side: 'u'+N reads N bytes then answers
// one byte; 'd'+N writes N bytes; anything else closes.
func startTarget(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveTarget(c)
		}
	}()
	return ln.Addr().String(), nil
}

func serveTarget(c net.Conn) {
	defer c.Close()
	hdr := make([]byte, 9)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return
	}
	n := int64(binary.BigEndian.Uint64(hdr[1:]))
	buf := make([]byte, 256<<10)
	switch hdr[0] {
	case 'u':
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, n), buf); err == nil {
			_, _ = c.Write([]byte{1})
		}
	case 'd':
		for left := n; left > 0; {
			k, err := c.Write(buf[:min(left, int64(len(buf)))])
			if err != nil {
				return
			}
			left -= int64(k)
		}
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(addr string, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
	}
	return errors.New(addr + " did not start listening")
}

// cpuSeconds returns the user+system CPU time of process pid (all its
// threads) from /proc, in seconds.
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time of %d: %w", pid, err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return 0, fmt.Errorf("CPU time of %d: short /proc stat", pid)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("CPU time of %d: bad /proc stat", pid)
	}
	return (utime + stime) / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc CPU times on Linux.
const clockTicks = 100

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
