package audit

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"intransit/tlspolicy"
	"intransit/tlspolicy/audit/hello"
	"intransit/tlspolicy/suites"
)

// judge turns the findings into a report with one verdict per check.
func judge(f *findings, prof *tlspolicy.Profile, name string, roots *x509.CertPool, now time.Time, expiryWindow time.Duration) *Report {
	r := &Report{Schema: SchemaVersion, Profile: prof.Name, CipherSuites: []CipherSuite{}, Groups: []Group{}, ServerOrder: f.order}
	add := func(id string, st Status, format string, args ...any) {
		r.Checks = append(r.Checks, Check{ID: id, Status: st, Detail: fmt.Sprintf(format, args...)})
	}
	allowedRange := fmt.Sprintf("profile %s allows %s to %s", prof.Name, versionName(prof.MinVersion), versionName(prof.MaxVersion))

	anyAllowed := false
	for _, v := range versionsProbed() {
		a := f.versions[v]
		p := Protocol{Name: versionName(v), Code: fmt.Sprintf("0x%04x", v), Accepted: f.accepted(v)}
		if !p.Accepted {
			p.Answer = declineText(a)
		}
		r.Protocols = append(r.Protocols, p)
		id := "protocol." + versionID(v)
		switch {
		case p.Accepted && prof.AllowsVersion(v):
			anyAllowed = true
			add(id, Pass, "accepted; allowed")
		case p.Accepted:
			add(id, Fail, "accepted; %s", allowedRange)
		case a.err != nil && !a.declined() && prof.AllowsVersion(v):
			add(id, Info, "unknown: the probe failed (%s)", p.Answer)
		case a.err != nil && !a.declined():
			add(id, Fail, "could not show that it is refused: the probe failed (%s); %s", p.Answer, allowedRange)
		default:
			add(id, Pass, "not accepted (%s)", p.Answer)
		}
	}
	if anyAllowed {
		add("protocol.allowed", Pass, "at least one allowed version is accepted")
	} else {
		add("protocol.allowed", Fail, "no accepted version is allowed; %s", allowedRange)
	}

	judgeSuites(r, f, prof, add)
	judgeGroups(r, f, prof, add)

	if r.ServerOrder.Protocol != "" {
		switch {
		case r.ServerOrder.ChaChaFollowsClient:
			add("server-order", Info, "server enforces its own suite order at %s, except that it picks ChaCha20-Poly1305 for a client that lists it before AES-GCM (a client without AES hardware), as Go's crypto/tls does", r.ServerOrder.Protocol)
		case r.ServerOrder.Enforced:
			add("server-order", Info, "server enforces its own suite order at %s", r.ServerOrder.Protocol)
		default:
			add("server-order", Info, "server follows the client's suite order at %s", r.ServerOrder.Protocol)
		}
	}

	if f.dheBits > 0 {
		r.DHEBits = f.dheBits
		add("dhe-params", Info, "finite-field DHE with a %d-bit prime", f.dheBits)
	}
	judgeRenegotiation(r, f, add)
	if f.cert != nil {
		judgeCertificate(r, f.cert, prof, name, roots, now, expiryWindow, add)
	}
	if len(f.probeErrs) == 0 {
		add("probes", Pass, "every probe got an answer")
	} else {
		slices.Sort(f.probeErrs)
		add("probes", Fail, "some probes failed, results may be incomplete: %s", strings.Join(f.probeErrs, "; "))
	}
	r.Compliant = len(r.Failed()) == 0
	return r
}

type addFunc func(id string, st Status, format string, args ...any)

// declineText says how the server answered a probe it did not accept.
func declineText(a answer) string {
	switch {
	case a.err != nil:
		return a.err.Error()
	case a.hello != nil:
		return "server chose " + versionName(a.hello.NegotiatedVersion())
	}
	return "not probed"
}

func judgeSuites(r *Report, f *findings, prof *tlspolicy.Profile, add addFunc) {
	for _, v := range versionsProbed() {
		for _, id := range f.suites[v] {
			s, ok := suites.Lookup(id)
			if !ok {
				s = suites.Suite{ID: id, Name: suites.Name(id)}
			}
			weak := s.Weaknesses()
			if weak == nil {
				weak = []string{}
			}
			cs := CipherSuite{
				Protocol: versionName(v), Code: fmt.Sprintf("0x%04x", id), Name: s.Name,
				KeyExchange: s.KeyExchange(), Cipher: s.Cipher(), ForwardSecret: s.ForwardSecret(),
				AEAD: s.AEAD(), Weaknesses: weak, Allowed: prof.AllowsSuite(v, id),
			}
			r.CipherSuites = append(r.CipherSuites, cs)
			checkID := fmt.Sprintf("suite.%s.%s", versionID(v), cs.Code)
			switch {
			case cs.Allowed:
				add(checkID, Pass, "%s accepted; allowed", s.Name)
			case len(weak) > 0:
				add(checkID, Fail, "%s accepted; not allowed by profile %s: %s", s.Name, prof.Name, strings.Join(weak, ", "))
			default:
				add(checkID, Fail, "%s accepted; not in the suites of profile %s", s.Name, prof.Name)
			}
		}
	}
}

func judgeGroups(r *Report, f *findings, prof *tlspolicy.Profile, add addFunc) {
	for _, g := range probedGroups() {
		got, ok := f.groups[g.id]
		if !ok {
			continue
		}
		got.Allowed = prof.AllowsGroup(g.id)
		r.Groups = append(r.Groups, *got)
		var where []string
		if got.TLS13 {
			where = append(where, "TLS 1.3")
		}
		if got.TLS12 {
			where = append(where, got.LegacyProtocol)
		}
		id := "group." + strings.ToLower(g.name())
		if got.Allowed {
			add(id, Pass, "%s accepted (%s); allowed", g.name(), strings.Join(where, ", "))
		} else {
			add(id, Fail, "%s accepted (%s); not in the groups of profile %s", g.name(), strings.Join(where, ", "), prof.Name)
		}
	}
	if prof.RequiresPQ() && f.accepted(hello.VersionTLS13) {
		hybrid := slices.ContainsFunc(r.Groups, func(g Group) bool { return g.Hybrid && g.TLS13 })
		if hybrid {
			add("group.hybrid-pq", Pass, "a hybrid post-quantum group is accepted")
		} else {
			add("group.hybrid-pq", Fail, "profile %s requires a hybrid post-quantum group; none is accepted", prof.Name)
		}
	}
}

func judgeRenegotiation(r *Report, f *findings, add addFunc) {
	var insecure, deflate []string
	for _, v := range versionsProbed() {
		if v > hello.VersionTLS12 || !f.accepted(v) {
			continue
		}
		r.Renegotiation.Applicable = true
		sh := f.versions[v].hello
		if !sh.SecureRenegotiation {
			insecure = append(insecure, versionName(v))
		}
		if sh.CompressionMethod != hello.CompressionNull {
			deflate = append(deflate, versionName(v))
		}
	}
	switch {
	case !r.Renegotiation.Applicable:
		add("renegotiation", Pass, "TLS 1.3 only: no renegotiation")
	case len(insecure) == 0:
		r.Renegotiation.Secure = true
		add("renegotiation", Pass, "secure renegotiation (RFC 5746) supported")
	default:
		add("renegotiation", Fail, "no secure renegotiation (RFC 5746) at %s", strings.Join(insecure, ", "))
	}
	if len(deflate) > 0 {
		r.Compression = true
		add("compression", Fail, "TLS compression (DEFLATE) accepted at %s (CRIME)", strings.Join(deflate, ", "))
	} else {
		add("compression", Pass, "TLS compression refused")
	}
}

func judgeCertificate(r *Report, res *certResult, prof *tlspolicy.Profile, name string, roots *x509.CertPool, now time.Time, expiryWindow time.Duration, add addFunc) {
	if res.err != nil {
		add("certificate", Fail, "could not read the certificate chain: %v", res.err)
		return
	}
	if len(res.certs) == 0 {
		add("certificate", Fail, "the server sent no certificate")
		return
	}
	chain := make([]*x509.Certificate, 0, len(res.certs))
	for i, der := range res.certs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			add("certificate", Fail, "certificate %d of the chain does not parse: %v", i+1, err)
			return
		}
		chain = append(chain, c)
	}
	ci := &Certificate{Source: res.source, OCSPStapled: len(res.ocsp) > 0}
	for _, c := range chain {
		ci.Chain = append(ci.Chain, describeCert(c, now))
	}
	r.Certificate = ci
	leaf := chain[0]

	if err := prof.CheckPublicKey(leaf.PublicKey); err != nil {
		add("certificate.key", Fail, "%s: %v", ci.Chain[0].KeyType, err)
	} else {
		add("certificate.key", Pass, "%s %d bits; allowed", ci.Chain[0].KeyType, ci.Chain[0].KeyBits)
	}

	var badSig []string
	for i, c := range chain {
		if i > 0 && selfSigned(c) {
			continue
		}
		if !prof.AllowsSignatureAlgorithm(c.SignatureAlgorithm) {
			badSig = append(badSig, fmt.Sprintf("certificate %d (%s) signed with %s", i+1, c.Subject, c.SignatureAlgorithm))
		}
	}
	if len(badSig) > 0 {
		add("certificate.signature", Fail, "%s; not allowed by profile %s", strings.Join(badSig, "; "), prof.Name)
	} else {
		add("certificate.signature", Pass, "%s; allowed", leaf.SignatureAlgorithm)
	}

	var invalid []string
	for i, c := range chain {
		switch {
		case now.Before(c.NotBefore):
			invalid = append(invalid, fmt.Sprintf("certificate %d (%s) not valid before %s", i+1, c.Subject, c.NotBefore.UTC().Format(time.RFC3339)))
		case now.After(c.NotAfter):
			invalid = append(invalid, fmt.Sprintf("certificate %d (%s) expired %s", i+1, c.Subject, c.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	if len(invalid) > 0 {
		add("certificate.validity", Fail, "%s", strings.Join(invalid, "; "))
	} else {
		add("certificate.validity", Pass, "valid until %s (%d days left)", leaf.NotAfter.UTC().Format(time.RFC3339), ci.Chain[0].DaysLeft)
	}
	if expiryWindow > 0 && len(invalid) == 0 {
		var soon []string
		for i, c := range chain {
			if left := c.NotAfter.Sub(now); left < expiryWindow {
				soon = append(soon, fmt.Sprintf("certificate %d (%s) expires %s, in %s", i+1, c.Subject, c.NotAfter.UTC().Format(time.RFC3339), roundLeft(left)))
			}
		}
		if len(soon) > 0 {
			add("certificate.expiry", Fail, "%s: renew it (warning window %s)", strings.Join(soon, "; "), roundLeft(expiryWindow))
		} else {
			add("certificate.expiry", Pass, "no certificate of the chain expires within %s", roundLeft(expiryWindow))
		}
	}

	if err := leaf.VerifyHostname(name); err != nil {
		add("certificate.hostname", Fail, "%v", err)
	} else {
		ci.HostnameMatch = true
		add("certificate.hostname", Pass, "certificate is valid for %s", name)
	}

	ci.ChainInOrder = true
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			ci.ChainInOrder = false
			add("certificate.chain-order", Fail, "certificate %d (%s) is not signed by the next one (%s): %v", i+1, chain[i].Subject, chain[i+1].Subject, err)
			break
		}
	}
	if ci.ChainInOrder {
		add("certificate.chain-order", Pass, "%d certificate(s), each signed by the next", len(chain))
	}

	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		ci.TrustError = err.Error()
		if missing := missingIssuer(chain, err); missing != "" {
			ci.TrustError = missing
		}
		add("certificate.trust", Fail, "chain does not verify: %s", ci.TrustError)
	} else {
		ci.Trusted = true
		src := "the system pool"
		if roots != nil {
			src = "the given CA"
		}
		add("certificate.trust", Pass, "chain verifies against %s", src)
	}
	if ci.OCSPStapled {
		add("certificate.ocsp-staple", Info, "OCSP response stapled (%d bytes)", len(res.ocsp))
	} else {
		add("certificate.ocsp-staple", Info, "no OCSP response stapled")
	}
}

// missingIssuer explains a chain that does not verify because the server
// sends only its own certificate, not the intermediate that issued it, the
// way testssl.sh reports "chain incomplete"; "" for other failures.
func missingIssuer(chain []*x509.Certificate, err error) string {
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) || len(chain) != 1 || selfSigned(chain[0]) {
		return ""
	}
	return fmt.Sprintf("chain incomplete: the server does not send the intermediate (the issuer of its certificate, %s): %v", chain[0].Issuer, err)
}

// roundLeft prints a duration in days, or in hours below two days.
func roundLeft(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
