package audit

import (
	"context"
	"io"
	"net"
	"testing"

	"intransit/internal/testutil/certs"
	"intransit/tlspolicy"
	"intransit/tlspolicy/proxy"
)

// The `intransit tls proxy` data path under a built-in profile, with its
// TLS config from tlspolicy.ServerConfig, is compliant with that profile.
func TestIntransitProxyIsCompliant(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	ca := certs.NewCA(t, "audit proxy CA")
	leaf := ca.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}})
	for _, name := range []string{tlspolicy.Baseline, tlspolicy.Modern, tlspolicy.PQ} {
		t.Run(name, func(t *testing.T) {
			prof, err := tlspolicy.Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			tc, err := tlspolicy.ServerConfig(tlspolicy.Options{Profile: prof, Certificate: &tlspolicy.StaticCertificate{Cert: leaf.TLS()}})
			if err != nil {
				t.Fatal(err)
			}
			px, err := proxy.New(proxy.Config{Mode: proxy.ModeServer, Target: echo.Addr().String(), TLS: tc, Profile: prof.Name})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- px.Serve(ctx, ln) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("proxy Serve: %v", err)
				}
			})
			r, err := Run(context.Background(), Options{Address: ln.Addr().String(), ServerName: "localhost", Profile: prof, Roots: ca.Pool(), ExpiryWindow: testCertWindow})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Compliant {
				t.Fatalf("intransit tls proxy under %s is not compliant with it: %+v", name, r.Failed())
			}
			if len(r.CipherSuites) == 0 || len(r.Groups) == 0 || r.Certificate == nil {
				t.Errorf("audit found too little: suites %d, groups %d, certificate %v", len(r.CipherSuites), len(r.Groups), r.Certificate)
			}
		})
	}
}
