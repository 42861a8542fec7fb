package audit

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"intransit/tlspolicy/audit/hello"
	"intransit/tlspolicy/suites"
)

// answer is what one probe got back.
type answer struct {
	// hello is the ServerHello or HelloRetryRequest, nil when none came.
	hello *hello.ServerHello
	// certs, ocsp and the key exchange parameters are filled when the probe
	// asked for the whole TLS 1.2 server flight.
	certs   [][]byte
	ocsp    []byte
	kxGroup tls.CurveID
	dhBits  int
	// flightErr is why the flight after the ServerHello could not be read.
	flightErr error
	// err is why no ServerHello came: an *hello.AlertError or ErrClosed mean
	// the server declined; anything else is a failed probe.
	err error
}

// declined reports whether the server refused the offer in the ordinary way
// (an alert, or closing the connection) rather than misbehaving.
func (a answer) declined() bool {
	var alert *hello.AlertError
	return errors.As(a.err, &alert) || errors.Is(a.err, hello.ErrClosed)
}

// prober sends hand-built ClientHellos to one address, at most limit at a
// time, each bounded by timeout.
type prober struct {
	addr       string
	serverName string
	timeout    time.Duration
	dialer     net.Dialer
	slots      chan struct{}
	count      atomic.Int64
}

func newProber(addr, serverName string, timeout time.Duration, limit int) *prober {
	return &prober{addr: addr, serverName: serverName, timeout: timeout, slots: make(chan struct{}, limit)}
}

// probe sends ch and reads the answer; with flight it goes on reading the
// TLS 1.2 server flight up to ServerHelloDone.
func (p *prober) probe(ctx context.Context, ch *hello.ClientHello, flight bool) answer {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return answer{err: ctx.Err()}
	}
	defer func() { <-p.slots }()
	p.count.Add(1)

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	conn, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return answer{err: fmt.Errorf("connect: %w", err)}
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return answer{err: fmt.Errorf("set deadline: %w", err)}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	records, err := ch.Records()
	if err != nil {
		return answer{err: err}
	}
	if _, err := conn.Write(records); err != nil {
		return answer{err: fmt.Errorf("send client hello: %w", timeoutOr(err, p.timeout))}
	}
	r := hello.NewReader(conn)
	msg, err := r.Next()
	if err != nil {
		return answer{err: timeoutOr(err, p.timeout)}
	}
	if msg.Type != hello.TypeServerHello {
		return answer{err: fmt.Errorf("%w: first handshake message has type %d, not ServerHello", hello.ErrNotTLS, msg.Type)}
	}
	sh, err := hello.ParseServerHello(msg.Body)
	if err != nil {
		return answer{err: fmt.Errorf("%w: %v", hello.ErrNotTLS, err)}
	}
	ans := answer{hello: sh}
	if flight && sh.NegotiatedVersion() <= hello.VersionTLS12 {
		ans.flightErr = readFlight(r, sh, &ans)
		if ans.flightErr != nil {
			ans.flightErr = timeoutOr(ans.flightErr, p.timeout)
		}
	}
	return ans
}

// readFlight reads the server's TLS 1.2 messages after the ServerHello.
func readFlight(r *hello.Reader, sh *hello.ServerHello, ans *answer) error {
	suite, _ := suites.Lookup(sh.CipherSuite)
	for range 16 {
		msg, err := r.Next()
		if err != nil {
			return fmt.Errorf("read server flight: %w", err)
		}
		switch msg.Type {
		case hello.TypeCertificate:
			if ans.certs, err = hello.ParseCertificate(msg.Body); err != nil {
				return err
			}
		case hello.TypeCertificateStatus:
			if ans.ocsp, err = hello.ParseCertificateStatus(msg.Body); err != nil {
				return err
			}
		case hello.TypeServerKeyExchange:
			kx := suite.KeyExchange()
			switch {
			case strings.HasPrefix(kx, "ECDHE"):
				g, err := hello.ParseECDHEKeyExchange(msg.Body)
				if err != nil {
					return err
				}
				ans.kxGroup = tls.CurveID(g)
			case strings.HasPrefix(kx, "DHE_") || kx == "DH_anon":
				if ans.dhBits, err = hello.ParseDHEKeyExchange(msg.Body); err != nil {
					return err
				}
			}
		case hello.TypeServerHelloDone:
			return nil
		}
	}
	return errors.New("read server flight: no ServerHelloDone after 16 messages")
}

// timeoutOr turns a deadline error into a message that says which timeout
// ran out, and a reset connection into hello.ErrClosed.
func timeoutOr(err error, timeout time.Duration) error {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%w (reset)", hello.ErrClosed)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("no answer within %s: %w", timeout, err)
	}
	return err
}

// helloFor builds the ClientHello that offers cipherSuites at exactly
// version (SSL 3.0 to TLS 1.2), with every extension that helps a server
// say yes, DEFLATE compression and a secure renegotiation request.
func (p *prober) helloFor(version uint16, cipherSuites []uint16, groups []tls.CurveID) *hello.ClientHello {
	ch := &hello.ClientHello{
		RecordVersion:      hello.VersionTLS10,
		Version:            version,
		CipherSuites:       cipherSuites,
		CompressionMethods: []uint8{hello.CompressionDeflate, hello.CompressionNull},
	}
	_, _ = rand.Read(ch.Random[:])
	if version == hello.VersionSSL30 {
		ch.RecordVersion = hello.VersionSSL30
		ch.NoExtensions = true
		ch.CipherSuites = append(append([]uint16(nil), cipherSuites...), hello.SCSVRenegotiation)
		return ch
	}
	ch.ServerName = p.serverName
	ch.Groups = curveIDs(groups)
	ch.PointFormats = true
	ch.SignatureSchemes = signatureSchemes()
	ch.RenegotiationInfo = true
	ch.StatusRequest = true
	ch.ExtendedMasterSecret = true
	return ch
}

// hello13 builds a TLS 1.3 ClientHello offering cipherSuites and groups,
// with key shares for shareFor (which may be empty: the server must then
// answer with a HelloRetryRequest).
func (p *prober) hello13(cipherSuites []uint16, groups, shareFor []tls.CurveID) (*hello.ClientHello, error) {
	ch := &hello.ClientHello{
		RecordVersion:     hello.VersionTLS10,
		Version:           hello.VersionTLS12,
		SessionID:         make([]byte, 32),
		CipherSuites:      cipherSuites,
		ServerName:        p.serverName,
		Groups:            curveIDs(groups),
		SignatureSchemes:  signatureSchemes(),
		SupportedVersions: []uint16{hello.VersionTLS13},
	}
	_, _ = rand.Read(ch.Random[:])
	_, _ = rand.Read(ch.SessionID)
	for _, g := range shareFor {
		share, err := keyShare(g)
		if err != nil {
			return nil, err
		}
		if share != nil {
			ch.KeyShares = append(ch.KeyShares, hello.KeyShare{Group: uint16(g), Data: share})
		}
	}
	return ch, nil
}

func curveIDs(groups []tls.CurveID) []uint16 {
	out := make([]uint16, len(groups))
	for i, g := range groups {
		out[i] = uint16(g)
	}
	return out
}

// classicalGroups are the groups offered in TLS 1.2-and-earlier probes.
func classicalGroups() []tls.CurveID {
	var out []tls.CurveID
	for _, g := range probedGroups() {
		if g.ec || g.id>>8 == 0x01 { // 0x01xx: the ffdhe groups
			out = append(out, g.id)
		}
	}
	return out
}

// allGroups are the groups offered in TLS 1.3 version and suite probes.
func allGroups() []tls.CurveID {
	var out []tls.CurveID
	for _, g := range probedGroups() {
		out = append(out, g.id)
	}
	return out
}
