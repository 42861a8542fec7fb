package enroll

import (
	"context"
	"crypto/tls"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"intransit/internal/testutil/etcdtest"
	"intransit/internal/testutil/pkitest"
	"intransit/p2s/store/etcd"
	"intransit/pki"
	"intransit/pki/keywrap"
	pkietcd "intransit/pki/store/etcd"
	"intransit/tlspolicy"
)

// TestOneTokenAtTwoGateways presents one enrollment token at two
// gateways' enrollment servers at once, both on one etcd store (clients,
// tokens and the PKI's records): exactly one enrolls, the other is told
// the token was used.
func TestOneTokenAtTwoGateways(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, etcdtest.Options{})
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "twogw"})
	is, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: "gw",
		DNSNames: []string{"gw.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	gwCert := tls.Certificate{Certificate: [][]byte{is.Certificate.Raw, ca.Intermediate().Raw}, PrivateKey: is.Key}
	dir := ca.Dir()
	ca.Close()
	prof, err := tlspolicy.Builtin(tlspolicy.PQ)
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	var srvs []*Server
	for range 2 {
		cl := c.Client() // each gateway its own connection
		// Each gateway holds the CA open, its records in the shared store.
		held, err := pki.Open(ctx, dir, keywrap.Passphrase([]byte(pkitest.Passphrase)), pki.OpenOptions{Store: pkietcd.New(cl, "/two/")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { held.Close() })
		srv := &Server{Store: etcd.New(cl, etcd.Options{Prefix: "/two/"}), Groups: []string{"staff"}, ControlPort: 8444, RenewPort: 8446,
			Authority: NewCAAuthority(held, 0, 0)}
		cfg, err := tlspolicy.ServerConfig(tlspolicy.Options{Profile: prof, Certificate: &tlspolicy.StaticCertificate{Cert: gwCert}})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewUnstartedServer(srv.Handler())
		hs.TLS = cfg
		hs.StartTLS()
		t.Cleanup(hs.Close)
		urls, srvs = append(urls, hs.URL), append(srvs, srv)
	}
	tok, _, err := srvs[0].Invite(ctx, "alice", "staff", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, u := range urls {
		_, csr := p256CSR(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Enroll(ctx, u, tok, csr, prof)
		}()
	}
	wg.Wait()
	won, used := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case reason(err) == ReasonTokenUsed:
			used++
		default:
			t.Errorf("unexpected refusal: %v", err)
		}
	}
	if won != 1 || used != 1 {
		t.Fatalf("one token at two gateways: %d enrolled, %d told it was used (%v); want 1 and 1", won, used, errs)
	}
	cli, err := srvs[1].Store.Client(ctx, "alice")
	if err != nil || len(cli.Serials) != 1 {
		t.Fatalf("alice's record: %+v %v; want one certificate", cli, err)
	}
}
