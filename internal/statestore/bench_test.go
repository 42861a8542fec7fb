package statestore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"intransit/internal/revfeed"
	"intransit/internal/testutil/etcdtest"
	"intransit/internal/testutil/pkitest"
	"intransit/p2s"
	"intransit/p2s/pool"
	p2sbolt "intransit/p2s/store/bolt"
	p2setcd "intransit/p2s/store/etcd"
	"intransit/pki"
	"intransit/pki/keywrap"
	"intransit/pki/store"
	pkietcd "intransit/pki/store/etcd"
)

// The fleet benchmarks (bench/fleet.sh) compare the two backends of the
// store section in one run: bolt (a file on this host, fsync on) and a
// 3-member etcd cluster on loopback (every write committed by a quorum).

// backends are the stores compared, each opened fresh per benchmark.
func backends() []string { return []string{"bolt", "etcd3"} }

// cluster starts the 3-member cluster of a benchmark.
func cluster(b *testing.B) *etcdtest.Cluster {
	b.Helper()
	return etcdtest.Start(b, etcdtest.Options{Members: 3})
}

// benchCA is a CA whose records are on backend.
func benchCA(b *testing.B, backend string) *pki.CA {
	b.Helper()
	if backend == "bolt" {
		return pkitest.NewCA(b, pki.InitOptions{Name: "bench"})
	}
	st := pkietcd.New(cluster(b).Client(), "/bench/")
	ca, err := pki.Init(context.Background(), pki.InitOptions{Dir: filepath.Join(b.TempDir(), "pki"), Name: "bench",
		Secret: keywrap.Passphrase([]byte(pkitest.Passphrase)), KDF: pkitest.FastKDF(), Store: st})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ca.Close() })
	return ca
}

func benchCSR(b *testing.B) *x509.CertificateRequest {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		b.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		b.Fatal(err)
	}
	return csr
}

// parallel runs op b.N times: in one goroutine for callers 1, else spread
// over callers goroutines.
func parallel(b *testing.B, callers int, op func() error) {
	b.Helper()
	if callers == 1 {
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism((callers + 1) / 2)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkFleetIssuance measures durable issuances per second (a CSR
// signed and its record committed) on each backend, with one caller and
// with 64 concurrent callers.
func BenchmarkFleetIssuance(b *testing.B) {
	for _, backend := range backends() {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("store=%s/callers=%d", backend, callers), func(b *testing.B) {
				ca := benchCA(b, backend)
				csr := benchCSR(b)
				var n atomic.Int64
				b.ResetTimer()
				parallel(b, callers, func() error {
					_, err := ca.SignCSR(context.Background(), csr, pki.Request{Profile: pki.ProfileClient, Name: fmt.Sprintf("c%d", n.Add(1))})
					return err
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "issuances/s")
			})
		}
	}
}

// benchP2S is the point-to-site store on backend.
func benchP2S(b *testing.B, backend string) p2s.Store {
	b.Helper()
	if backend == "bolt" {
		st, err := p2sbolt.Open(filepath.Join(b.TempDir(), p2sbolt.FileName))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}
	return p2setcd.New(cluster(b).Client(), p2setcd.Options{Prefix: "/bench/", LeaseIdle: time.Hour})
}

// BenchmarkFleetConnectStore measures connects per second as far as the
// store bounds them: each connect does what a gateway's admission asks of
// the store (the client's record read, an address leased by
// compare-and-swap) for a new client, with one and 64 concurrent
// connects. The TLS handshake and the WireGuard handshake (bench/p2s.sh)
// come on top, the same on both backends.
func BenchmarkFleetConnectStore(b *testing.B) {
	for _, backend := range backends() {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("store=%s/callers=%d", backend, callers), func(b *testing.B) {
				ctx := context.Background()
				st := benchP2S(b, backend)
				pl, err := pool.New(ctx, netip.MustParsePrefix("10.64.0.0/10"), netip.Prefix{}, st)
				if err != nil {
					b.Fatal(err)
				}
				var n atomic.Int64
				b.ResetTimer()
				parallel(b, callers, func() error {
					name := fmt.Sprintf("c%d", n.Add(1))
					if _, err := st.Client(ctx, name); err != nil && !isNotFound(err) {
						return err
					}
					_, err := pl.Acquire(ctx, name)
					return err
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "connects/s")
			})
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, p2s.ErrNotFound) }

// arrivals is a revfeed.Sink that records when each serial arrived.
type arrivals struct {
	mu   sync.Mutex
	at   map[string]time.Time
	wake chan struct{}
}

func (a *arrivals) AddRevoked(_ []byte, serial *big.Int, _ time.Time) {
	a.mu.Lock()
	a.at[serial.String()] = time.Now()
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// wait returns when serial arrived, giving up after a minute.
func (a *arrivals) wait(b *testing.B, serial *big.Int) time.Time {
	b.Helper()
	deadline := time.After(time.Minute)
	for {
		a.mu.Lock()
		at, ok := a.at[serial.String()]
		a.mu.Unlock()
		if ok {
			return at
		}
		select {
		case <-a.wake:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			b.Fatalf("revocation of %s never arrived", serial)
		}
	}
}

// BenchmarkFleetRevocationPropagation measures the time from a
// revocation asked on one host (one etcd client; the time includes its
// commit) to its arrival at a gateway on another (another client following the feed into its checks),
// on the 3-member cluster; it reports the median and the 99th percentile.
func BenchmarkFleetRevocationPropagation(b *testing.B) {
	ctx := context.Background()
	c := cluster(b)
	ca, err := pki.Init(ctx, pki.InitOptions{Dir: filepath.Join(b.TempDir(), "pki"), Name: "bench",
		Secret: keywrap.Passphrase([]byte(pkitest.Passphrase)), KDF: pkitest.FastKDF(), Store: pkietcd.New(c.Client(), "/prop/")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ca.Close() })
	gw := pkietcd.New(c.Client(), "/prop/") // the other host
	sink := &arrivals{at: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	f := &revfeed.Follower{Feed: gw, Records: gw, Sinks: []revfeed.Sink{sink}}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(fctx) }()
	b.Cleanup(func() { cancel(); <-done })
	csr := benchCSR(b)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		is, err := ca.SignCSR(ctx, csr, pki.Request{Profile: pki.ProfileClient, Name: fmt.Sprintf("r%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := ca.Revoke(ctx, is.Certificate.SerialNumber, store.ReasonUnspecified); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, sink.wait(b, is.Certificate.SerialNumber).Sub(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1e3, "median-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1e3, "p99-ms")
}
