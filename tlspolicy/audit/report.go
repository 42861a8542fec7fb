package audit

import "time"

// SchemaVersion names the layout of Report; it changes only when a field is
// removed or changes meaning.
const SchemaVersion = "intransit.tls-audit/v1"

// Status is the verdict of one check.
type Status string

// Verdicts of a check.
const (
	// Pass means the endpoint meets the profile on this point.
	Pass Status = "pass"
	// Fail means the endpoint breaks the profile on this point.
	Fail Status = "fail"
	// Info is a fact the profile has no rule about.
	Info Status = "info"
)

// Report is the result of one audit. Its JSON form is the stable document
// described in the package documentation.
type Report struct {
	Schema        string        `json:"schema"`
	Target        string        `json:"target"`
	ServerName    string        `json:"server_name"`
	Profile       string        `json:"profile"`
	StartedAt     time.Time     `json:"started_at"`
	DurationMS    int64         `json:"duration_ms"`
	Probes        int64         `json:"probes"`
	Compliant     bool          `json:"compliant"`
	Protocols     []Protocol    `json:"protocols"`
	CipherSuites  []CipherSuite `json:"cipher_suites"`
	ServerOrder   ServerOrder   `json:"server_order"`
	Groups        []Group       `json:"groups"`
	Certificate   *Certificate  `json:"certificate"`
	Renegotiation Renegotiation `json:"renegotiation"`
	// DHEBits is the size of the finite-field DHE prime, 0 when no DHE
	// suite is accepted.
	DHEBits     int     `json:"dhe_bits"`
	Compression bool    `json:"compression"`
	Checks      []Check `json:"checks"`
}

// Protocol is one protocol version and whether the server accepted it.
type Protocol struct {
	Name     string `json:"name"`
	Code     string `json:"code"`
	Accepted bool   `json:"accepted"`
	// Answer says how the server answered the probe when it did not accept.
	Answer string `json:"answer,omitempty"`
}

// CipherSuite is one suite the server accepted at one protocol version.
type CipherSuite struct {
	Protocol      string   `json:"protocol"`
	Code          string   `json:"code"`
	Name          string   `json:"name"`
	KeyExchange   string   `json:"key_exchange"`
	Cipher        string   `json:"cipher"`
	ForwardSecret bool     `json:"forward_secret"`
	AEAD          bool     `json:"aead"`
	Weaknesses    []string `json:"weaknesses"`
	Allowed       bool     `json:"allowed"`
}

// ServerOrder says whether the server picks by its own preference.
type ServerOrder struct {
	// Protocol is the version the order was tested at, empty when fewer than
	// two suites were accepted at any TLS 1.2-or-earlier version.
	Protocol string `json:"protocol"`
	// Enforced is true when the server chose the same suite from a list and
	// from its reverse (ChaCha20 suites left out when there are two others).
	Enforced bool `json:"enforced"`
	// ChaChaFollowsClient is true when a server that enforces its order
	// still picks ChaCha20-Poly1305 for a client that lists it before
	// AES-GCM, and AES-GCM otherwise, as Go's crypto/tls does.
	ChaChaFollowsClient bool `json:"chacha20_follows_client"`
}

// Group is one key exchange group and where the server accepted it.
type Group struct {
	Name  string `json:"name"`
	Code  string `json:"code"`
	TLS13 bool   `json:"tls13"`
	// TLS12 is true when the group was accepted for ECDHE in a TLS
	// 1.2-or-earlier handshake; LegacyProtocol names the version ("TLS
	// 1.1" on a server that speaks nothing newer).
	TLS12          bool   `json:"tls12"`
	LegacyProtocol string `json:"legacy_protocol"`
	Hybrid         bool   `json:"hybrid_pq"`
	Allowed        bool   `json:"allowed"`
}

// Certificate is the chain the server presented and what was found in it.
type Certificate struct {
	// Source is "handshake" (read from a TLS 1.2-or-earlier Certificate
	// message) or "crypto/tls" (a TLS 1.3 handshake).
	Source        string     `json:"source"`
	Chain         []CertInfo `json:"chain"`
	HostnameMatch bool       `json:"hostname_match"`
	ChainInOrder  bool       `json:"chain_in_order"`
	Trusted       bool       `json:"trusted"`
	TrustError    string     `json:"trust_error,omitempty"`
	OCSPStapled   bool       `json:"ocsp_stapled"`
}

// CertInfo describes one certificate of the chain, leaf first.
type CertInfo struct {
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	DNSNames           []string  `json:"dns_names"`
	IPAddresses        []string  `json:"ip_addresses"`
	KeyType            string    `json:"key_type"`
	KeyBits            int       `json:"key_bits"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	DaysLeft           int       `json:"days_left"`
}

// Renegotiation reports RFC 5746 secure renegotiation support.
type Renegotiation struct {
	// Applicable is false when the server speaks only TLS 1.3, which has no
	// renegotiation.
	Applicable bool `json:"applicable"`
	Secure     bool `json:"secure"`
}

// Check is one verdict against the profile.
type Check struct {
	// ID is stable across runs, e.g. "protocol.tls1.0" or
	// "suite.tls1.2.0x002f".
	ID     string `json:"id"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
}

// Failed returns the checks that failed.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}
