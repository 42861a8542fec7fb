package audit

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"intransit/tlspolicy"
	"intransit/tlspolicy/audit/hello"
	"intransit/tlspolicy/suites"
)

// Defaults for Options left zero.
const (
	DefaultTimeout     = 3 * time.Second
	DefaultConcurrency = 8
	// DefaultExpiryWindow is how close to its expiry a certificate makes
	// the audit warn, as testssl.sh does.
	DefaultExpiryWindow = 30 * 24 * time.Hour
	// enumerationChunks splits the registry so that suite enumeration at
	// one version runs as this many independent elimination loops.
	enumerationChunks = 4
)

// Options say what to audit and against which profile.
type Options struct {
	// Address is HOST:PORT.
	Address string
	// ServerName is sent as SNI and checked against the certificate; empty
	// means the host part of Address (not sent as SNI when it is an IP).
	ServerName string
	// Profile is the policy the verdicts are taken against. Required.
	Profile *tlspolicy.Profile
	// Roots are the trust anchors; nil means the system pool.
	Roots *x509.CertPool
	// Timeout bounds each probe (connect, send, answer).
	Timeout time.Duration
	// Concurrency bounds the probes in flight.
	Concurrency int
	// ExpiryWindow fails the certificate.expiry check when a certificate of
	// the chain expires within it; 0 means DefaultExpiryWindow, a negative
	// window turns the check off.
	ExpiryWindow time.Duration
	// Now is the clock for certificate validity; nil means time.Now.
	Now func() time.Time
	// Logger receives one debug line per probe; nil discards.
	Logger *slog.Logger
}

// ErrCannotAudit wraps every reason the audit could not run at all: the
// endpoint is unreachable, does not speak TLS, or never completed a
// ServerHello.
var ErrCannotAudit = errors.New("cannot audit")

// versionsProbed are the protocol versions asked about, oldest first.
func versionsProbed() []uint16 {
	return []uint16{hello.VersionSSL30, hello.VersionTLS10, hello.VersionTLS11, hello.VersionTLS12, hello.VersionTLS13}
}

// versionName names a protocol version the way reports show it.
func versionName(v uint16) string {
	switch v {
	case hello.VersionSSL30:
		return "SSL 3.0"
	case hello.VersionTLS10:
		return "TLS 1.0"
	case hello.VersionTLS11:
		return "TLS 1.1"
	case hello.VersionTLS12:
		return "TLS 1.2"
	case hello.VersionTLS13:
		return "TLS 1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

// versionID is the lower-case token of a version used in check IDs.
func versionID(v uint16) string {
	return strings.ToLower(strings.ReplaceAll(versionName(v), " ", ""))
}

// findings gathers raw probe results before they are judged.
type findings struct {
	versions map[uint16]answer
	// suites maps a version to the accepted suite IDs, sorted.
	suites map[uint16][]uint16
	groups map[tls.CurveID]*Group
	order  ServerOrder
	// dheBits is the prime size of finite-field DHE, 0 when untested.
	dheBits   int
	cert      *certResult
	probeErrs []string
	mu        sync.Mutex
}

func (f *findings) probeError(what string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probeErrs = append(f.probeErrs, fmt.Sprintf("%s: %v", what, err))
}

// Run audits one endpoint. A returned error wraps ErrCannotAudit and means
// no verdict could be reached; otherwise the Report says whether the
// endpoint is compliant.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Profile == nil {
		return nil, errors.New("audit: no profile given")
	}
	host, _, err := net.SplitHostPort(opts.Address)
	if err != nil {
		return nil, fmt.Errorf("%w: target %q is not HOST:PORT: %v", ErrCannotAudit, opts.Address, err)
	}
	name := opts.ServerName
	if name == "" {
		name = host
	}
	sni := name
	if net.ParseIP(sni) != nil {
		sni = ""
	}
	if opts.Timeout < 0 || opts.Concurrency < 0 {
		return nil, fmt.Errorf("audit: negative timeout (%s) or concurrency (%d)", opts.Timeout, opts.Concurrency)
	}
	timeout := cmp.Or(opts.Timeout, DefaultTimeout)
	p := newProber(opts.Address, sni, timeout, cmp.Or(opts.Concurrency, DefaultConcurrency))
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	started := time.Now()

	if err := reachable(ctx, &p.dialer, opts.Address, timeout); err != nil {
		return nil, err
	}
	f := &findings{suites: map[uint16][]uint16{}, groups: map[tls.CurveID]*Group{}}
	if err := probeVersions(ctx, p, f, log); err != nil {
		return nil, err
	}

	var wg sync.WaitGroup
	for _, v := range versionsProbed() {
		if v <= hello.VersionTLS12 && f.accepted(v) {
			wg.Go(func() { enumerateSuites(ctx, p, f, v, log) })
		}
	}
	if f.accepted(hello.VersionTLS13) {
		wg.Go(func() { enumerateTLS13Suites(ctx, p, f) })
		wg.Go(func() { probeTLS13Groups(ctx, p, f) })
	}
	wg.Go(func() { f.cert = fetchCertificate(ctx, p, f, name, timeout) })
	wg.Wait()

	if v, ok := f.best12(); ok {
		wg.Go(func() { probeTLS12Groups(ctx, p, f, v) })
		wg.Go(func() { probeServerOrder(ctx, p, f, v) })
		wg.Go(func() { probeDHE(ctx, p, f, v) })
		wg.Wait()
	}

	r := judge(f, opts.Profile, name, opts.Roots, now(), cmp.Or(opts.ExpiryWindow, DefaultExpiryWindow))
	r.Target = opts.Address
	r.ServerName = name
	r.StartedAt = started.UTC()
	r.DurationMS = time.Since(started).Milliseconds()
	r.Probes = p.count.Load()
	return r, nil
}

// reachable checks that a TCP connection can be made at all.
func reachable(ctx context.Context, d *net.Dialer, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: cannot connect to %s: %v", ErrCannotAudit, addr, err)
	}
	_ = c.Close()
	return nil
}

func (f *findings) accepted(v uint16) bool {
	a, ok := f.versions[v]
	return ok && a.hello != nil && a.hello.NegotiatedVersion() == v
}

// best12 is the newest accepted version up to TLS 1.2.
func (f *findings) best12() (uint16, bool) {
	for _, v := range slices.Backward(versionsProbed()) {
		if v <= hello.VersionTLS12 && f.accepted(v) {
			return v, true
		}
	}
	return 0, false
}

// probeVersions asks for each protocol version with everything offered. When
// none is accepted the audit cannot run, and the error says what the server
// did instead.
func probeVersions(ctx context.Context, p *prober, f *findings, log *slog.Logger) error {
	all12 := suiteIDs(suites.TLS12())
	var mu sync.Mutex
	f.versions = map[uint16]answer{}
	var wg sync.WaitGroup
	for _, v := range versionsProbed() {
		wg.Go(func() {
			var a answer
			if v == hello.VersionTLS13 {
				ch, err := p.hello13(suiteIDs(suites.TLS13()), allGroups(), []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256})
				if err != nil {
					a = answer{err: err}
				} else {
					a = p.probe(ctx, ch, false)
				}
			} else {
				a = p.probe(ctx, p.helloFor(v, all12, classicalGroups()), false)
			}
			log.Debug("version probe", "version", versionName(v), "accepted", a.hello != nil, "err", a.err)
			mu.Lock()
			f.versions[v] = a
			mu.Unlock()
		})
	}
	wg.Wait()
	var reasons []string
	for _, v := range versionsProbed() {
		if f.accepted(v) {
			return nil
		}
		a := f.versions[v]
		switch {
		case a.err != nil:
			reasons = append(reasons, fmt.Sprintf("%s: %v", versionName(v), a.err))
		default:
			reasons = append(reasons, fmt.Sprintf("%s: server chose %s instead", versionName(v), versionName(a.hello.NegotiatedVersion())))
		}
	}
	for _, v := range versionsProbed() {
		if a := f.versions[v]; a.err != nil && errors.Is(a.err, hello.ErrNotTLS) {
			return fmt.Errorf("%w: %s does not speak TLS: %v", ErrCannotAudit, p.addr, a.err)
		}
	}
	return fmt.Errorf("%w: %s completed no ServerHello for any protocol version (%s)", ErrCannotAudit, p.addr, strings.Join(reasons, "; "))
}

func suiteIDs(list []suites.Suite) []uint16 {
	out := make([]uint16, len(list))
	for i, s := range list {
		out[i] = s.ID
	}
	return out
}

// enumerateSuites finds every accepted suite at version v the way sslscan
// does: offer a list, note the chosen suite, remove it, offer again, until
// the server declines. The registry is split in chunks enumerated
// concurrently; the union is the same as one long loop.
func enumerateSuites(ctx context.Context, p *prober, f *findings, v uint16, log *slog.Logger) {
	all := suiteIDs(suites.TLS12())
	size := (len(all) + enumerationChunks - 1) / enumerationChunks
	var wg sync.WaitGroup
	for start := 0; start < len(all); start += size {
		chunk := slices.Clone(all[start:min(start+size, len(all))])
		wg.Go(func() {
			for range len(chunk) + 1 {
				if len(chunk) == 0 {
					return
				}
				a := p.probe(ctx, p.helloFor(v, chunk, classicalGroups()), false)
				switch {
				case a.err != nil && a.declined():
					return
				case a.err != nil:
					f.probeError(fmt.Sprintf("%s suite enumeration", versionName(v)), a.err)
					return
				case a.hello.NegotiatedVersion() != v:
					return
				}
				i := slices.Index(chunk, a.hello.CipherSuite)
				if i < 0 {
					f.probeError(fmt.Sprintf("%s suite enumeration", versionName(v)),
						fmt.Errorf("server chose suite 0x%04x, which was not offered", a.hello.CipherSuite))
					return
				}
				log.Debug("suite accepted", "version", versionName(v), "suite", suites.Name(a.hello.CipherSuite))
				f.mu.Lock()
				f.suites[v] = append(f.suites[v], a.hello.CipherSuite)
				f.mu.Unlock()
				chunk = slices.Delete(chunk, i, i+1)
			}
		})
	}
	wg.Wait()
	f.mu.Lock()
	slices.Sort(f.suites[v])
	f.mu.Unlock()
}

// enumerateTLS13Suites offers each TLS 1.3 suite alone.
func enumerateTLS13Suites(ctx context.Context, p *prober, f *findings) {
	var wg sync.WaitGroup
	for _, s := range suites.TLS13() {
		wg.Go(func() {
			ch, err := p.hello13([]uint16{s.ID}, allGroups(), []tls.CurveID{tls.X25519, tls.CurveP256})
			if err != nil {
				f.probeError("TLS 1.3 suite probe", err)
				return
			}
			a := p.probe(ctx, ch, false)
			switch {
			case a.err != nil && !a.declined():
				f.probeError("TLS 1.3 suite "+s.Name, a.err)
			case a.err == nil && a.hello.NegotiatedVersion() == hello.VersionTLS13 && a.hello.CipherSuite == s.ID:
				f.mu.Lock()
				f.suites[hello.VersionTLS13] = append(f.suites[hello.VersionTLS13], s.ID)
				f.mu.Unlock()
			}
		})
	}
	wg.Wait()
	f.mu.Lock()
	slices.Sort(f.suites[hello.VersionTLS13])
	f.mu.Unlock()
}

func (f *findings) group(id tls.CurveID) *Group {
	g, ok := f.groups[id]
	if !ok {
		g = &Group{Name: groupName(id), Code: fmt.Sprintf("0x%04x", uint16(id)), Hybrid: tlspolicy.IsHybridPQ(id)}
		f.groups[id] = g
	}
	return g
}

// probeTLS13Groups offers each group alone, with a key share where one can
// be built: the server answers with a ServerHello or a HelloRetryRequest
// naming the group when it accepts it.
func probeTLS13Groups(ctx context.Context, p *prober, f *findings) {
	var wg sync.WaitGroup
	for _, g := range probedGroups() {
		wg.Go(func() {
			ch, err := p.hello13(suiteIDs(suites.TLS13()), []tls.CurveID{g.id}, []tls.CurveID{g.id})
			if err != nil {
				f.probeError("TLS 1.3 group probe", err)
				return
			}
			a := p.probe(ctx, ch, false)
			switch {
			case a.err != nil && !a.declined():
				f.probeError("TLS 1.3 group "+g.name(), a.err)
			case a.err == nil && a.hello.NegotiatedVersion() == hello.VersionTLS13 && a.hello.KeyShareGroup == uint16(g.id):
				f.mu.Lock()
				f.group(g.id).TLS13 = true
				f.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// probeTLS12Groups offers the accepted ECDHE suites with one curve at a time
// and reads the curve from the ServerKeyExchange.
func probeTLS12Groups(ctx context.Context, p *prober, f *findings, v uint16) {
	var ecdhe []uint16
	for _, id := range f.suites[v] {
		if s, ok := suites.Lookup(id); ok && strings.HasPrefix(s.KeyExchange(), "ECDHE") {
			ecdhe = append(ecdhe, id)
		}
	}
	if len(ecdhe) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, g := range probedGroups() {
		if !g.ec {
			continue
		}
		wg.Go(func() {
			a := p.probe(ctx, p.helloFor(v, ecdhe, []tls.CurveID{g.id}), true)
			if a.err != nil && a.declined() {
				// Up to TLS 1.2 the curve of an ECDSA certificate must be
				// among the offered groups too: offer g first, then the
				// certificate curves, and see whether the server takes g.
				a = p.probe(ctx, p.helloFor(v, ecdhe, withCertCurves(g.id)), true)
			}
			switch {
			case a.err != nil && !a.declined():
				f.probeError(versionName(v)+" group "+g.name(), a.err)
			case a.err == nil && a.flightErr == nil && a.kxGroup == g.id:
				f.mu.Lock()
				gr := f.group(g.id)
				gr.TLS12, gr.LegacyProtocol = true, versionName(v)
				f.mu.Unlock()
			case a.err == nil && a.flightErr != nil:
				f.probeError(versionName(v)+" group "+g.name(), a.flightErr)
			}
		})
	}
	wg.Wait()
}

// probeDHE offers the accepted finite-field DHE suites and reads the size
// of the prime from the ServerKeyExchange.
func probeDHE(ctx context.Context, p *prober, f *findings, v uint16) {
	var dhe []uint16
	for _, id := range f.suites[v] {
		if s, ok := suites.Lookup(id); ok && (strings.HasPrefix(s.KeyExchange(), "DHE_") || s.KeyExchange() == "DH_anon") {
			dhe = append(dhe, id)
		}
	}
	if len(dhe) == 0 {
		return
	}
	a := p.probe(ctx, p.helloFor(v, dhe, classicalGroups()), true)
	switch {
	case a.err != nil:
		f.probeError(versionName(v)+" DHE parameters", a.err)
	case a.flightErr != nil:
		f.probeError(versionName(v)+" DHE parameters", a.flightErr)
	default:
		f.dheBits = a.dhBits
	}
}

// withCertCurves lists g followed by the ECDSA certificate curves.
func withCertCurves(g tls.CurveID) []tls.CurveID {
	out := []tls.CurveID{g}
	for _, c := range []tls.CurveID{tls.CurveP256, tls.CurveP384, tls.CurveP521} {
		if c != g {
			out = append(out, c)
		}
	}
	return out
}

// probeServerOrder offers the accepted suites in order and reversed: a
// server that picks the same suite both times enforces its own order.
// ChaCha20-Poly1305 suites are left out of that test, because servers such
// as Go's crypto/tls enforce their order except between AES-GCM and
// ChaCha20, where they follow a client that lists ChaCha20 first (a client
// without AES hardware). For a server that enforces its order, that
// exception is tested on its own: the accepted suites offered with AES-GCM
// first and with ChaCha20 first.
func probeServerOrder(ctx context.Context, p *prober, f *findings, v uint16) {
	accepted := f.suites[v]
	if len(accepted) < 2 {
		return
	}
	var chacha, others []uint16
	for _, id := range accepted {
		if s, ok := suites.Lookup(id); ok && s.Cipher() == "CHACHA20_POLY1305" {
			chacha = append(chacha, id)
		} else {
			others = append(others, id)
		}
	}
	base := others
	if len(others) < 2 {
		base = accepted
	}
	// choice offers two lists at once and returns the suite chosen from
	// each.
	choice := func(one, two []uint16) (uint16, uint16, error) {
		var a, b answer
		var wg sync.WaitGroup
		wg.Go(func() { a = p.probe(ctx, p.helloFor(v, one, classicalGroups()), false) })
		wg.Go(func() { b = p.probe(ctx, p.helloFor(v, two, classicalGroups()), false) })
		wg.Wait()
		if err := errors.Join(a.err, b.err); err != nil {
			return 0, 0, err
		}
		return a.hello.CipherSuite, b.hello.CipherSuite, nil
	}
	reversed := slices.Clone(base)
	slices.Reverse(reversed)
	fwd, back, err := choice(base, reversed)
	if err != nil {
		f.probeError(versionName(v)+" server order", err)
		return
	}
	f.order = ServerOrder{Protocol: versionName(v), Enforced: fwd == back}
	if !f.order.Enforced || len(chacha) == 0 || len(others) == 0 {
		return
	}
	aesFirst, chachaFirst, err := choice(slices.Concat(others, chacha), slices.Concat(chacha, others))
	if err != nil {
		f.probeError(versionName(v)+" server order (ChaCha20)", err)
		return
	}
	f.order.ChaChaFollowsClient = !slices.Contains(chacha, aesFirst) && slices.Contains(chacha, chachaFirst)
}
