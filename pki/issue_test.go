package pki_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/store"
)

func issueReq(profile, name string) pki.Request {
	r := pki.Request{Profile: profile, Name: name}
	if p, _ := pki.LookupProfile(profile); p.HostNames {
		r.DNSNames = []string{name + ".example.net"}
		r.IPAddresses = []net.IP{net.ParseIP("192.0.2.10")}
	}
	return r
}

func openssl(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// TestProfilesAgainstOpenSSL issues one certificate per profile, checks the
// chain with Go and with the real openssl, checks the usages and names
// openssl shows, then revokes the client and checks that openssl refuses it
// with the CRL while the others still pass.
func TestProfilesAgainstOpenSSL(t *testing.T) {
	bin := pkitest.Openssl(t)
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "acme", CRLURL: "http://pki.example.net/crl"})
	out := t.TempDir()
	root := filepath.Join(ca.Dir(), pki.RootCertFile)
	inter := filepath.Join(ca.Dir(), pki.IntermediateFile)

	want := map[string]struct {
		eku  string
		sans []string
	}{
		pki.ProfileGateway: {"TLS Web Server Authentication, TLS Web Client Authentication", []string{"DNS:gateway-1.example.net", "IP Address:192.0.2.10", "URI:intransit://acme/gateway/gateway-1"}},
		pki.ProfileServer:  {"TLS Web Server Authentication", []string{"DNS:server-1.example.net", "URI:intransit://acme/server/server-1"}},
		pki.ProfileClient:  {"TLS Web Client Authentication", []string{"URI:intransit://acme/client/client-1"}},
		pki.ProfileAdmin:   {"TLS Web Client Authentication", []string{"URI:intransit://acme/admin/admin-1"}},
	}
	leaves := map[string]string{}
	var clientSerial *big.Int
	for _, profile := range pki.ProfileNames() {
		name := profile + "-1"
		is, err := ca.Issue(ctx, issueReq(profile, name), pki.ECDSAP256)
		if err != nil {
			t.Fatalf("%s: %v", profile, err)
		}
		files, err := ca.WriteIssued(out, is)
		if err != nil {
			t.Fatal(err)
		}
		leaves[profile] = files.Cert
		if profile == pki.ProfileClient {
			clientSerial = is.Certificate.SerialNumber
		}
		if fi, err := os.Stat(files.Key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: key file %v, %v; want mode 0600", profile, fi, err)
		}

		roots, inters := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(ca.Root())
		inters.AddCert(ca.Intermediate())
		if _, err := is.Certificate.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: is.Certificate.ExtKeyUsage}); err != nil {
			t.Errorf("%s: Go verification: %v", profile, err)
		}

		if o, err := openssl(t, bin, "verify", "-CAfile", root, "-untrusted", inter, files.Cert); err != nil {
			t.Errorf("%s: openssl verify failed: %v\n%s", profile, err, o)
		}
		text, err := openssl(t, bin, "x509", "-noout", "-text", "-in", files.Cert)
		if err != nil {
			t.Fatalf("%s: openssl x509: %v\n%s", profile, err, text)
		}
		for _, s := range append([]string{want[profile].eku, "Digital Signature", "CA:FALSE", "URI:http://pki.example.net/crl"}, want[profile].sans...) {
			if !strings.Contains(text, s) {
				t.Errorf("%s: openssl x509 -text lacks %q:\n%s", profile, s, text)
			}
		}
		if strings.Contains(text, "Certificate Sign") {
			t.Errorf("%s: leaf may sign certificates:\n%s", profile, text)
		}
	}

	if _, err := ca.Revoke(ctx, clientSerial, store.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	crl, err := ca.NewCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	crlPath := filepath.Join(out, "crl.pem")
	if err := os.WriteFile(crlPath, pki.PEMCRL(crl.DER), 0o644); err != nil {
		t.Fatal(err)
	}
	for profile, leaf := range leaves {
		o, err := openssl(t, bin, "verify", "-crl_check", "-CRLfile", crlPath, "-CAfile", root, "-untrusted", inter, leaf)
		if profile == pki.ProfileClient {
			if err == nil || !strings.Contains(o, "revoked") {
				t.Errorf("revoked client passed openssl verify -crl_check (err %v):\n%s", err, o)
			}
		} else if err != nil {
			t.Errorf("%s: openssl verify -crl_check failed: %v\n%s", profile, err, o)
		}
	}
	text, err := openssl(t, bin, "crl", "-noout", "-text", "-in", crlPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"X509v3 CRL Number", "Next Update", strings.ToUpper(pki.FormatSerial(clientSerial)), "Key Compromise"} {
		if !strings.Contains(strings.ToUpper(text), strings.ToUpper(s)) {
			t.Errorf("openssl crl -text lacks %q:\n%s", s, text)
		}
	}
}

func TestKeyTypesOfCAs(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA CA keys take seconds to generate")
	}
	bin := pkitest.Openssl(t)
	for _, kt := range []pki.KeyType{pki.RSA3072, pki.Ed25519, pki.ECDSAP384} {
		t.Run(string(kt), func(t *testing.T) {
			ca := pkitest.NewCA(t, pki.InitOptions{RootKeyType: kt, IntermediateKeyType: kt})
			is, err := ca.Issue(context.Background(), issueReq(pki.ProfileServer, "s"), pki.Ed25519)
			if err != nil {
				t.Fatal(err)
			}
			files, err := ca.WriteIssued(t.TempDir(), is)
			if err != nil {
				t.Fatal(err)
			}
			if o, err := openssl(t, bin, "verify", "-CAfile", filepath.Join(ca.Dir(), pki.RootCertFile), "-untrusted", filepath.Join(ca.Dir(), pki.IntermediateFile), files.Cert); err != nil {
				t.Fatalf("openssl verify: %v\n%s", err, o)
			}
		})
	}
}

func newCSR(t *testing.T, key crypto.Signer, alg x509.SignatureAlgorithm) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "ignored"}, DNSNames: []string{"evil.example.org"}, SignatureAlgorithm: alg,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func TestSignCSRUsesRequestedIdentityOnly(t *testing.T) {
	ca := pkitest.NewCA(t, pki.InitOptions{})
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.SignCSR(context.Background(), newCSR(t, key, 0), issueReq(pki.ProfileServer, "web"))
	if err != nil {
		t.Fatal(err)
	}
	c := is.Certificate
	if is.Key != nil || c.Subject.CommonName != "web" || len(c.DNSNames) != 1 || c.DNSNames[0] != "web.example.net" {
		t.Fatalf("issued %v with %v; want CN web and only the requested names", c.Subject, c.DNSNames)
	}
	if !key.PublicKey.Equal(c.PublicKey) {
		t.Fatal("certificate does not carry the CSR's key")
	}
	if is.Record.KeyType != "ecdsa-p384" {
		t.Fatalf("record key type %q", is.Record.KeyType)
	}
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{PermittedDNSDomains: []string{"example.net"}})
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	badSig := newCSR(t, p256, 0)
	badSig.Signature = append([]byte(nil), badSig.Signature...)
	badSig.Signature[len(badSig.Signature)-3] ^= 0x55
	otherKey := newCSR(t, p256, 0)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey.PublicKey = other.Public()

	withTTL := func(r pki.Request, d time.Duration) pki.Request { r.TTL = d; return r }
	withDNS := func(r pki.Request, d ...string) pki.Request { r.DNSNames = d; return r }
	for _, tc := range []struct {
		name string
		csr  *x509.CertificateRequest
		req  pki.Request
		want string
	}{
		{"CSR with RSA-1024", newCSR(t, rsa1024, 0), issueReq(pki.ProfileServer, "s"), "RSA key of 1024 bits is below the minimum of 2048"},
		{"CSR with P-521", newCSR(t, p521, 0), issueReq(pki.ProfileServer, "s"), "ECDSA curve P-521 is not allowed"},
		{"CSR signature does not verify", badSig, issueReq(pki.ProfileServer, "s"), "signature does not verify"},
		{"CSR key swapped", otherKey, issueReq(pki.ProfileServer, "s"), "signature does not verify"},
		{"TTL above profile maximum", newCSR(t, p256, 0), withTTL(issueReq(pki.ProfileClient, "c"), 91*24*time.Hour), "above the maximum of 2160h0m0s"},
		{"negative TTL", newCSR(t, p256, 0), withTTL(issueReq(pki.ProfileClient, "c"), -time.Hour), "negative"},
		{"unknown profile", newCSR(t, p256, 0), issueReq("operator", "x"), `unknown profile "operator"`},
		{"admin with a DNS name", newCSR(t, p256, 0), withDNS(issueReq(pki.ProfileAdmin, "a"), "a.example.net"), "not allowed"},
		{"gateway without names", newCSR(t, p256, 0), pki.Request{Profile: pki.ProfileGateway, Name: "g"}, "at least one DNS name or IP address"},
		{"client with a DNS name", newCSR(t, p256, 0), withDNS(issueReq(pki.ProfileClient, "c"), "c.example.net"), "not allowed"},
		{"name outside permitted domains", newCSR(t, p256, 0), withDNS(issueReq(pki.ProfileServer, "s"), "s.example.org"), "outside the permitted domains"},
		{"wildcard", newCSR(t, p256, 0), withDNS(issueReq(pki.ProfileServer, "s"), "*.example.net"), "no wildcards"},
		{"bad name", newCSR(t, p256, 0), issueReq(pki.ProfileServer, "../etc/passwd"), "use 1 to 63 lower-case letters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ca.SignCSR(ctx, tc.csr, tc.req)
			if err == nil {
				t.Fatal("request was granted")
			}
			if !pki.IsRefusal(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (refusal %v); want a refusal saying %q", err, pki.IsRefusal(err), tc.want)
			}
		})
	}
	recs, err := ca.List(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Fatalf("refused requests left %d records", len(recs))
	}

	if _, err := ca.Issue(ctx, issueReq(pki.ProfileServer, "s"), pki.KeyType("rsa-1024")); err == nil {
		t.Error("issued with an unknown key type")
	}
	_, err = ca.Revoke(ctx, big.NewInt(12345), store.ReasonKeyCompromise)
	if !pki.IsRefusal(err) || !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "3039") {
		t.Errorf("revoke of unknown serial: err = %v; want a refusal naming serial 3039", err)
	}
	if _, err := ca.RevokeRef(ctx, "nobody", store.ReasonKeyCompromise); !pki.IsRefusal(err) {
		t.Errorf("revoke of unknown name: err = %v; want a refusal", err)
	}
}

func TestRevocationFeedAndLookup(t *testing.T) {
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{})
	var serials []*big.Int
	for i := range 3 {
		is, err := ca.Issue(ctx, issueReq(pki.ProfileClient, fmt.Sprintf("laptop%d", i)), pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		serials = append(serials, is.Certificate.SerialNumber)
		if is.Certificate.SerialNumber.BitLen() < 65 {
			t.Errorf("serial %x has fewer than 65 bits", is.Certificate.SerialNumber)
		}
	}
	if _, err := ca.RevokeRef(ctx, "laptop1", store.ReasonCessationOfOperation); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.RevokeRef(ctx, pki.FormatSerial(serials[2]), store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.RevokeRef(ctx, "laptop1", store.ReasonSuperseded); !pki.IsRefusal(err) || !errors.Is(err, store.ErrAlreadyRevoked) {
		t.Fatalf("second revoke: err = %v; want refusal (already revoked)", err)
	}
	for i, want := range []bool{false, true, true} {
		got, err := ca.IsRevoked(ctx, serials[i])
		if err != nil || got != want {
			t.Errorf("IsRevoked(laptop%d) = %v, %v; want %v", i, got, err, want)
		}
	}
	revs, rev, err := ca.RevocationsSince(ctx, 1)
	if err != nil || rev != 2 || len(revs) != 1 || revs[0].Serial.Cmp(serials[2]) != 0 {
		t.Fatalf("RevocationsSince(1) = %v, %d, %v; want laptop2 at revision 2", revs, rev, err)
	}
	all, err := ca.RevokedSerials(ctx)
	if err != nil || len(all) != 2 || all[0].Cmp(serials[1]) != 0 {
		t.Fatalf("RevokedSerials = %v, %v", all, err)
	}
	found, err := ca.Find(ctx, strings.ToUpper(pki.FormatSerial(serials[0])))
	if err != nil || len(found) != 1 || found[0].Name != "laptop0" {
		t.Fatalf("Find by upper-case serial = %v, %v", found, err)
	}
}

func TestCRLNumbersAndCaching(t *testing.T) {
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{})
	first, err := ca.CurrentCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ca.CurrentCRL(ctx)
	if err != nil || again.Number != first.Number {
		t.Fatalf("CurrentCRL without revocations re-signed: %d then %d (%v)", first.Number, again.Number, err)
	}
	is, err := ca.Issue(ctx, issueReq(pki.ProfileServer, "s"), pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Revoke(ctx, is.Certificate.SerialNumber, store.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	after, err := ca.CurrentCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Number <= first.Number {
		t.Fatalf("CRL number %d after a revocation, was %d", after.Number, first.Number)
	}
	explicit, err := ca.NewCRL(ctx)
	if err != nil || explicit.Number <= after.Number {
		t.Fatalf("NewCRL number %d after %d (%v)", explicit.Number, after.Number, err)
	}
	rl, err := x509.ParseRevocationList(explicit.DER)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.CheckSignatureFrom(ca.Intermediate()); err != nil {
		t.Fatal(err)
	}
	if rl.Number.Uint64() != explicit.Number || len(rl.RevokedCertificateEntries) != 1 ||
		rl.RevokedCertificateEntries[0].SerialNumber.Cmp(is.Certificate.SerialNumber) != 0 ||
		rl.RevokedCertificateEntries[0].ReasonCode != 1 || !rl.NextUpdate.Equal(rl.ThisUpdate.Add(7*24*time.Hour)) {
		t.Fatalf("CRL %d: entries %+v, thisUpdate %v, nextUpdate %v", rl.Number, rl.RevokedCertificateEntries, rl.ThisUpdate, rl.NextUpdate)
	}
}

// TestSignOpenSSLCSR signs CSRs made by openssl: an RSA-2048 one with
// SHA-256 is granted and verifies with openssl; a SHA-1 one is refused for
// its hash.
func TestSignOpenSSLCSR(t *testing.T) {
	bin := pkitest.Openssl(t)
	ca := pkitest.NewCA(t, pki.InitOptions{})
	dir := t.TempDir()
	for _, tc := range []struct {
		digest string
		want   string
	}{
		{"-sha256", ""},
		{"-sha1", "SHA-256 or better is required"},
	} {
		csrPath := filepath.Join(dir, "req"+tc.digest+".csr")
		if o, err := openssl(t, bin, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", filepath.Join(dir, "k"+tc.digest), tc.digest,
			"-subj", "/CN=ossl", "-out", csrPath); err != nil {
			t.Fatalf("openssl req %s: %v\n%s", tc.digest, err, o)
		}
		b, err := os.ReadFile(csrPath)
		if err != nil {
			t.Fatal(err)
		}
		csr, err := pki.ParseCSR(b)
		if err != nil {
			t.Fatal(err)
		}
		is, err := ca.SignCSR(context.Background(), csr, issueReq(pki.ProfileServer, "ossl"+tc.digest))
		if tc.want != "" {
			if !pki.IsRefusal(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s CSR: err = %v; want a refusal saying %q", tc.digest, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		files, err := ca.WriteIssued(dir, is)
		if err != nil {
			t.Fatal(err)
		}
		if o, err := openssl(t, bin, "verify", "-CAfile", filepath.Join(ca.Dir(), pki.RootCertFile), "-untrusted", filepath.Join(ca.Dir(), pki.IntermediateFile), files.Cert); err != nil {
			t.Fatalf("openssl verify: %v\n%s", err, o)
		}
		if is.Record.KeyType != "rsa-2048" {
			t.Fatalf("record key type %q", is.Record.KeyType)
		}
	}
}

// TestConcurrentIssuanceAndRevocation issues from several goroutines while
// others revoke and read the CRL, then checks that every serial is distinct,
// recorded, and that the final CRL lists exactly the revoked ones.
func TestConcurrentIssuanceAndRevocation(t *testing.T) {
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{})
	const workers, each = 8, 15
	serials := make(chan *big.Int, workers*each)
	errs := make(chan error, workers+1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			if _, err := ca.CurrentCRL(ctx); err != nil {
				errs <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				is, err := ca.Issue(ctx, issueReq(pki.ProfileClient, fmt.Sprintf("w%d-%d", w, i)), pki.ECDSAP256)
				if err != nil {
					errs <- err
					return
				}
				if i%3 == 0 {
					if _, err := ca.Revoke(ctx, is.Certificate.SerialNumber, store.ReasonSuperseded); err != nil {
						errs <- err
						return
					}
				}
				serials <- is.Certificate.SerialNumber
			}
		}()
	}
	wg.Wait()
	<-done
	close(errs)
	close(serials)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for sn := range serials {
		if seen[sn.String()] {
			t.Fatalf("serial %x issued twice", sn)
		}
		seen[sn.String()] = true
	}
	recs, err := ca.List(ctx, store.Filter{})
	if err != nil || len(recs) != workers*each || len(seen) != workers*each {
		t.Fatalf("%d records, %d serials, %v; want %d", len(recs), len(seen), err, workers*each)
	}
	crl, err := ca.CurrentCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := x509.ParseRevocationList(crl.DER)
	if err != nil {
		t.Fatal(err)
	}
	if want := workers * ((each + 2) / 3); len(rl.RevokedCertificateEntries) != want {
		t.Fatalf("CRL lists %d entries, want %d", len(rl.RevokedCertificateEntries), want)
	}
}
