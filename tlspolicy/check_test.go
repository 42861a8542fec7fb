package tlspolicy

import (
	"crypto/tls"
	"strings"
	"testing"

	"intransit/internal/testutil/certs"
)

func TestCheck(t *testing.T) {
	f := newFixture(t)
	weak := f.ca.Issue(certs.LeafOptions{CommonName: "weak", Key: certs.RSA1024})
	baseline := mustProfile(t, Baseline)
	tests := []struct {
		name string
		cfg  *tls.Config
		want []string // "Field: fragment" of error findings, in order
	}{
		{"go defaults", &tls.Config{}, []string{"CipherSuites: not set", "CurvePreferences: not set"}},
		{"explicit and within", &tls.Config{
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
			CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
			CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519},
			Certificates:     []tls.Certificate{f.server.TLS()},
		}, nil},
		{"weak everything", &tls.Config{
			MinVersion:         tls.VersionTLS10,
			CipherSuites:       []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA},
			CurvePreferences:   []tls.CurveID{tls.CurveP521},
			Certificates:       []tls.Certificate{weak.TLS()},
			InsecureSkipVerify: true,
			ClientAuth:         tls.RequireAnyClientCert,
			Renegotiation:      tls.RenegotiateOnceAsClient,
		}, []string{
			"MinVersion: TLS 1.0 is below", "CipherSuites: TLS_RSA_WITH_AES_128_CBC_SHA is not allowed",
			"CurvePreferences: P-521 is not allowed", "Certificates[0]: \"weak\": RSA key of 1024 bits",
			"InsecureSkipVerify", "ClientAuth", "Renegotiation",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs []Finding
			for _, fd := range Check(tt.cfg, baseline) {
				if fd.Severity == SeverityError {
					errs = append(errs, fd)
				}
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("findings %v, want %d errors %v", errs, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				field, frag, _ := strings.Cut(w, ": ")
				if errs[i].Field != field || !strings.Contains(errs[i].Message, frag) {
					t.Errorf("finding %d = %v, want %s", i, errs[i], w)
				}
			}
		})
	}
	pq := mustProfile(t, PQ)
	if fs := Check(&tls.Config{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519}}, pq); len(fs) != 1 || !strings.Contains(fs[0].Message, "X25519 is not allowed") {
		t.Errorf("pq profile with a classical fallback: %v", fs)
	}
}

func TestCheckAcceptsOwnConfigs(t *testing.T) {
	f := newFixture(t)
	for _, name := range BuiltinNames() {
		p := mustProfile(t, name)
		srv, err := ServerConfig(Options{Profile: p, Certificate: &StaticCertificate{Cert: f.server.TLS()}, CAs: &StaticCAs{Set: NewCASet(f.ca.Cert)}})
		if err != nil {
			t.Fatal(err)
		}
		cli, err := ClientConfig(Options{Profile: p, CAs: &StaticCAs{Set: NewCASet(f.ca.Cert)}})
		if err != nil {
			t.Fatal(err)
		}
		for role, cfg := range map[string]*tls.Config{"server": srv, "client": cli} {
			for _, fd := range Check(cfg, p) {
				if fd.Severity == SeverityError {
					t.Errorf("%s %s config: %v", name, role, fd)
				}
			}
		}
	}
}
