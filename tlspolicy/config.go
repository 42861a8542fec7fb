package tlspolicy

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Options describe a TLS endpoint for ServerConfig and ClientConfig.
type Options struct {
	// Profile is the policy; required.
	Profile *Profile
	// Certificate is the endpoint's own certificate: required for a server,
	// optional for a client (needed when the server asks for one).
	Certificate CertificateSource
	// CAs are the CAs peer chains must end in. On a server, setting CAs
	// turns on mTLS: every client must present a certificate that verifies.
	// On a client, nil means the system roots.
	CAs CASource
	// Revocation, when set, refuses peers whose chain holds a revoked
	// certificate. Needs CAs.
	Revocation *Revocation
	// Allow restricts the peer identities allowed in. Needs a verified peer
	// chain: CAs on a server.
	Allow Identity
	// ServerName is the name a client verifies the server certificate
	// against and sends as SNI. Empty: the host name tls.Dial derives from
	// the address; IP addresses are not sent as SNI, so a client that
	// dials an IP and verifies an IP SAN must set it.
	ServerName string
	// Logger receives one line per refusal; nil discards.
	Logger *slog.Logger
	// Metrics counts handshakes and refusals; nil counts nothing.
	Metrics *Metrics
}

// Roles, as used in logs and metric labels.
const (
	RoleServer = "server"
	RoleClient = "client"
)

// policy enforces one Options for one role.
type policy struct {
	o    Options
	role string
	log  *slog.Logger
}

func newPolicy(o Options, role string) (*policy, error) {
	if o.Profile == nil {
		return nil, errors.New("no TLS profile given")
	}
	if err := o.Profile.Validate(); err != nil {
		return nil, err
	}
	if o.Revocation != nil && o.CAs == nil {
		return nil, errors.New("revocation checking needs the CAs that issued the peers' certificates")
	}
	if role == RoleServer && !o.Allow.Empty() && o.CAs == nil {
		return nil, errors.New("identity allow-lists need client certificates: give the client CAs")
	}
	if o.Certificate != nil {
		cert, err := o.Certificate.Certificate()
		if err != nil {
			return nil, fmt.Errorf("own certificate: %w", err)
		}
		if cert == nil || len(cert.Certificate) == 0 {
			return nil, errors.New("own certificate: the source holds no certificate")
		}
		leaf := cert.Leaf
		if leaf == nil {
			if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
				return nil, fmt.Errorf("own certificate: %w", err)
			}
		}
		if err := o.Profile.CheckPublicKey(leaf.PublicKey); err != nil {
			return nil, fmt.Errorf("own certificate %q is not allowed by profile %s: %w", leaf.Subject.CommonName, o.Profile.Name, err)
		}
	}
	return &policy{o: o, role: role, log: loggerOrDiscard(o.Logger)}, nil
}

// baseConfig sets every list explicitly from the profile.
func (p *policy) baseConfig() *tls.Config {
	prof := p.o.Profile
	suites := slices.Clone(prof.CipherSuites)
	if suites == nil {
		suites = []uint16{}
	}
	return &tls.Config{
		MinVersion:       prof.MinVersion,
		MaxVersion:       prof.MaxVersion,
		CipherSuites:     suites,
		CurvePreferences: slices.Clone(prof.Groups),
		Renegotiation:    tls.RenegotiateNever,
	}
}

// ServerConfig builds a server tls.Config that enforces o.Profile. Offers
// outside the profile are refused as soon as the ClientHello is read; every
// handshake, resumed ones included, is then checked in VerifyConnection:
// negotiated version, suite and group, and with mTLS the client's key,
// chain, revocation and identity. Refusals are logged and counted.
func ServerConfig(o Options) (*tls.Config, error) {
	if o.Certificate == nil {
		return nil, errors.New("server TLS config: no certificate given")
	}
	p, err := newPolicy(o, RoleServer)
	if err != nil {
		return nil, fmt.Errorf("server TLS config: %w", err)
	}
	base := p.baseConfig()
	base.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return o.Certificate.Certificate() }
	if o.CAs != nil {
		// Client certificates are verified in VerifyConnection, so that a
		// missing or bad one is refused with its reason code.
		base.ClientAuth = tls.RequestClientCert
	}
	base.VerifyConnection = func(cs tls.ConnectionState) error { return p.verify(cs, "") }
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		peer := ""
		if hello.Conn != nil {
			peer = hello.Conn.RemoteAddr().String()
		}
		if r := p.checkHello(hello); r != nil {
			p.refused(r, peer)
			sendAlert(hello.Conn, 0, r)
			return nil, r
		}
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		if o.CAs != nil {
			cfg.ClientCAs = o.CAs.CAs().Pool
		}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			err := p.verify(cs, peer)
			var r *Refusal
			if errors.As(err, &r) && cs.Version < tls.VersionTLS13 {
				// Still in plaintext: the peer can be told the reason.
				// In TLS 1.3 crypto/tls's bad_certificate goes out,
				// encrypted, instead.
				sendAlert(hello.Conn, cs.Version, r)
			}
			return err
		}
		return cfg, nil
	}
	return base, nil
}

// ClientConfig builds a client tls.Config that enforces o.Profile. The
// server's chain is verified in VerifyConnection against o.CAs (the system
// roots when nil) and its name, then its key, revocation and the identity
// allow-lists, on every handshake including resumed ones.
func ClientConfig(o Options) (*tls.Config, error) {
	p, err := newPolicy(o, RoleClient)
	if err != nil {
		return nil, fmt.Errorf("client TLS config: %w", err)
	}
	cfg := p.baseConfig()
	cfg.ServerName = o.ServerName
	// The chain is verified in VerifyConnection, by the same code as a
	// server's, so that refusals carry a reason code.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		// crypto/tls leaves IP addresses out of SNI and so out of
		// cs.ServerName; the configured name is the one to verify.
		if o.ServerName != "" {
			cs.ServerName = o.ServerName
		}
		return p.verify(cs, cs.ServerName)
	}
	if o.Certificate != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return o.Certificate.Certificate() }
	}
	return cfg, nil
}

// ControlServerConfig builds the server end of the daemon's control channel:
// TLS 1.3 mTLS under the pq profile (o.Profile must be nil or a profile that
// requires hybrid post-quantum groups) with client certificates verified
// against o.CAs.
func ControlServerConfig(o Options) (*tls.Config, error) {
	if err := controlOptions(&o); err != nil {
		return nil, err
	}
	return ServerConfig(o)
}

// ControlClientConfig builds the client end of the daemon's control channel,
// the counterpart of ControlServerConfig; it presents o.Certificate.
func ControlClientConfig(o Options) (*tls.Config, error) {
	if err := controlOptions(&o); err != nil {
		return nil, err
	}
	if o.Certificate == nil {
		return nil, errors.New("control channel: the client needs its certificate")
	}
	return ClientConfig(o)
}

func controlOptions(o *Options) error {
	if o.Profile == nil {
		pq, err := Builtin(PQ)
		if err != nil {
			return err
		}
		o.Profile = pq
	}
	if !o.Profile.RequiresPQ() || o.Profile.MinVersion != tls.VersionTLS13 {
		return fmt.Errorf("control channel: profile %s is not TLS 1.3 with hybrid post-quantum groups only", o.Profile.Name)
	}
	if o.CAs == nil {
		return errors.New("control channel: mTLS needs the CAs that issue peer certificates")
	}
	return nil
}

// Exporter derives length bytes of keying material bound to the session of a
// completed handshake (RFC 8446 section 7.5, RFC 5705), for mixing into keys
// of another protocol.
func Exporter(conn *tls.Conn, label string, context []byte, length int) ([]byte, error) {
	cs := conn.ConnectionState()
	if !cs.HandshakeComplete {
		return nil, errors.New("TLS exporter: handshake not complete")
	}
	out, err := cs.ExportKeyingMaterial(label, context, length)
	if err != nil {
		return nil, fmt.Errorf("TLS exporter: %w", err)
	}
	return out, nil
}

// verify is the VerifyConnection of both roles.
func (p *policy) verify(cs tls.ConnectionState, peer string) error {
	if r := p.check(cs); r != nil {
		p.o.Metrics.refusedLog(p.log.With("resumed", cs.DidResume), p.role, p.o.Profile.Name, r, peer)
		return r
	}
	p.o.Metrics.handshake(p.role, p.o.Profile.Name, cs)
	return nil
}

// refusedLog logs a refusal and counts it.
func (m *Metrics) refusedLog(log *slog.Logger, role, profile string, r *Refusal, peer string) {
	log.Warn("TLS connection refused", "reason", string(r.Reason), "role", role, "profile", profile, "peer", peer, "detail", r.Err.Error())
	m.Refused(role, profile, r.Reason)
}

func (p *policy) refused(r *Refusal, peer string) {
	p.o.Metrics.refusedLog(p.log, p.role, p.o.Profile.Name, r, peer)
}

// LogRefusal logs a refusal in the same form as the configs do and counts
// it; for refusals decided by a listener (plaintext, failed handshakes).
func LogRefusal(log *slog.Logger, m *Metrics, role, profile string, r *Refusal, peer string) {
	m.refusedLog(loggerOrDiscard(log), role, profile, r, peer)
}

// check applies the profile to a negotiated connection.
func (p *policy) check(cs tls.ConnectionState) *Refusal {
	prof := p.o.Profile
	if !prof.AllowsVersion(cs.Version) {
		return refuse(ReasonVersion, "negotiated %s is outside profile %s", VersionName(cs.Version), prof.Name)
	}
	if !prof.AllowsSuite(cs.Version, cs.CipherSuite) {
		return refuse(ReasonCipherSuite, "negotiated cipher suite %s is not allowed by profile %s", SuiteName(cs.CipherSuite), prof.Name)
	}
	if !prof.AllowsGroup(cs.CurveID) {
		return refuse(ReasonGroup, "negotiated key exchange group %s is not allowed by profile %s (allowed: %s)", GroupName(cs.CurveID), prof.Name, groupList(prof.Groups))
	}
	if p.role == RoleServer && p.o.CAs == nil {
		return nil
	}
	if len(cs.PeerCertificates) == 0 {
		return refuse(ReasonNoCertificate, "the %s presented no certificate", p.peerRole())
	}
	leaf := cs.PeerCertificates[0]
	if err := prof.CheckPublicKey(leaf.PublicKey); err != nil {
		return refuse(ReasonPeerKey, "%s certificate %q: %v", p.peerRole(), leaf.Subject.CommonName, err)
	}
	opts := x509.VerifyOptions{Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	var cas *CASet
	if p.o.CAs != nil {
		cas = p.o.CAs.CAs()
		opts.Roots = cas.Pool
	}
	for _, c := range untrusted(cas, cs.PeerCertificates[1:]) {
		opts.Intermediates.AddCert(c)
	}
	if p.role == RoleClient {
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		opts.DNSName = cs.ServerName
		if cs.ServerName == "" && p.o.Allow.Empty() {
			return refuse(ReasonChain, "no server name to verify the server certificate against, and no identity allow-list")
		}
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		var invalid x509.CertificateInvalidError
		if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
			return refuse(ReasonExpired, "%s certificate %q: %w", p.peerRole(), leaf.Subject.CommonName, err)
		}
		return refuse(ReasonChain, "%s certificate %q: %w", p.peerRole(), leaf.Subject.CommonName, err)
	}
	chain := chains[0]
	for _, c := range chain[:len(chain)-1] {
		if !prof.AllowsSignatureAlgorithm(c.SignatureAlgorithm) {
			return refuse(ReasonSignature, "certificate %q is signed with %s, not allowed by profile %s", c.Subject.CommonName, c.SignatureAlgorithm, prof.Name)
		}
	}
	if p.o.Revocation != nil {
		if r := p.o.Revocation.Check(chain); r != nil {
			return r
		}
	}
	if r := p.o.Allow.Check(leaf); r != nil {
		return r
	}
	return nil
}

// untrusted returns the certificates of a peer's chain that are not
// trusted CAs already. A peer usually sends the issuing intermediate that
// the CA bundle also holds; offered again as an intermediate, it makes
// chain building verify a second chain through the root (two more
// signature checks per handshake) that is never used: the chain ending at
// the trusted copy is found first and is the one checked.
func untrusted(cas *CASet, certs []*x509.Certificate) []*x509.Certificate {
	if cas == nil {
		return certs
	}
	out := make([]*x509.Certificate, 0, len(certs))
	for _, c := range certs {
		if !slices.ContainsFunc(cas.Certs, func(t *x509.Certificate) bool { return t.Equal(c) }) {
			out = append(out, c)
		}
	}
	return out
}

func (p *policy) peerRole() string {
	if p.role == RoleServer {
		return RoleClient
	}
	return RoleServer
}

// checkHello refuses a ClientHello that cannot lead to a handshake within
// the profile, with the reason, before crypto/tls answers it.
func (p *policy) checkHello(h *tls.ClientHelloInfo) *Refusal {
	prof := p.o.Profile
	var best uint16
	for _, v := range h.SupportedVersions {
		if prof.AllowsVersion(v) && v > best {
			best = v
		}
	}
	if best == 0 {
		offered := make([]string, len(h.SupportedVersions))
		for i, v := range h.SupportedVersions {
			offered[i] = VersionName(v)
		}
		return refuse(ReasonVersion, "client offered %s; profile %s allows %s to %s", strings.Join(offered, ", "), prof.Name, VersionName(prof.MinVersion), VersionName(prof.MaxVersion))
	}
	suites, groups := prof.TLS13CipherSuites, prof.Groups
	if best < tls.VersionTLS13 {
		suites = nil
		for _, s := range prof.CipherSuites {
			if p.suiteFitsCertificate(s) {
				suites = append(suites, s)
			}
		}
		groups = slices.DeleteFunc(slices.Clone(groups), IsHybridPQ)
	}
	if !slices.ContainsFunc(h.CipherSuites, func(s uint16) bool { return slices.Contains(suites, s) }) {
		offered := make([]string, 0, len(h.CipherSuites))
		for _, s := range h.CipherSuites {
			offered = append(offered, SuiteName(s))
		}
		return refuse(ReasonCipherSuite, "client offered no cipher suite allowed by profile %s for %s and this certificate (offered: %s)", prof.Name, VersionName(best), strings.Join(offered, ", "))
	}
	if !slices.ContainsFunc(h.SupportedCurves, func(g tls.CurveID) bool { return slices.Contains(groups, g) }) {
		return refuse(ReasonGroup, "client offered key exchange groups %s; profile %s requires one of %s", groupList(h.SupportedCurves), prof.Name, groupList(groups))
	}
	return nil
}

// suiteFitsCertificate reports whether a TLS 1.2 suite can be used with the
// server's current certificate (ECDSA suites need an ECDSA or Ed25519 key,
// RSA suites an RSA key).
func (p *policy) suiteFitsCertificate(s uint16) bool {
	cert, err := p.o.Certificate.Certificate()
	if err != nil || cert == nil || cert.Leaf == nil {
		return true
	}
	ecdsaSuite := strings.Contains(SuiteName(s), "_ECDSA_")
	switch cert.Leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		return !ecdsaSuite
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return ecdsaSuite
	}
	return true
}

func groupList(gs []tls.CurveID) string {
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = GroupName(g)
	}
	return strings.Join(names, ", ")
}
