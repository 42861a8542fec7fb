package tlspolicy

import (
	"crypto/tls"
	"net"
	"testing"

	"intransit/internal/testutil/certs"
)

// BenchmarkHandshake measures full TLS 1.3 handshakes (client and server in
// one process, over net.Pipe) through ServerConfig, by the group the client
// offers.
func BenchmarkHandshake(b *testing.B) {
	ca := certs.NewCA(b, "Bench CA")
	leaf := ca.Issue(certs.LeafOptions{CommonName: "server", DNSNames: []string{"localhost"}})
	for _, bc := range []struct {
		profile string
		group   tls.CurveID
	}{
		{Baseline, tls.X25519},
		{Baseline, tls.X25519MLKEM768},
		{PQ, tls.X25519MLKEM768},
	} {
		b.Run(bc.profile+"/"+bc.group.String(), func(b *testing.B) {
			p, err := Builtin(bc.profile)
			if err != nil {
				b.Fatal(err)
			}
			srv, err := ServerConfig(Options{Profile: p, Certificate: &StaticCertificate{Cert: leaf.TLS()}})
			if err != nil {
				b.Fatal(err)
			}
			cli := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", CurvePreferences: []tls.CurveID{bc.group}}
			for b.Loop() {
				a, c := net.Pipe()
				errc := make(chan error, 1)
				go func() { errc <- tls.Server(a, srv).Handshake() }()
				if err := tls.Client(c, cli).Handshake(); err != nil {
					b.Fatal(err)
				}
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
				a.Close()
				c.Close()
			}
		})
	}
}
