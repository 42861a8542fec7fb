package etcdtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
)

// PKIFiles is TLS material issued by a real intransit PKI for a cluster
// and one of its clients.
type PKIFiles struct {
	// CA is the PKI's bundle (intermediate and root).
	CA string
	// ServerCert (chain) and ServerKey are the members' certificate for
	// 127.0.0.1 (the server profile).
	ServerCert, ServerKey string
	// ClientCert (chain) and ClientKey are a gateway's certificate.
	ClientCert, ClientKey string
}

// NewPKITLS initialises an intransit PKI and issues a server certificate
// for the members and a gateway certificate for a client. It returns the
// files and the TLS options of Start.
func NewPKITLS(t testing.TB) (PKIFiles, *TLS) {
	t.Helper()
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "etcdtest"})
	dir := t.TempDir()
	issue := func(profile, name string, ips []net.IP) (chain, key string) {
		is, err := ca.Issue(ctx, pki.Request{Profile: profile, Name: name, DNSNames: []string{name + ".test"}, IPAddresses: ips}, pki.ECDSAP256)
		if err != nil {
			t.Fatalf("etcdtest: issue %s: %v", name, err)
		}
		files, err := ca.WriteIssued(dir, is)
		if err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		return files.Chain, files.Key
	}
	var f PKIFiles
	f.ServerCert, f.ServerKey = issue(pki.ProfileServer, "etcd", []net.IP{net.IPv4(127, 0, 0, 1)})
	f.ClientCert, f.ClientKey = issue(pki.ProfileGateway, "gw-etcdtest", nil)
	f.CA = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(f.CA, ca.Bundle(), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root())
	roots.AddCert(ca.Intermediate())
	return f, &TLS{CA: f.CA, Cert: f.ServerCert, Key: f.ServerKey, Client: &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12,
	}}
}
