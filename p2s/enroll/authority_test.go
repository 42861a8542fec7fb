package enroll

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
)

// TestCAAuthorityBoundsSigning: with every signing slot taken a request is
// refused as busy (503) once MaxWait passes, or ends with its context;
// a free slot signs. The bundle comes from memory, the same every time.
func TestCAAuthorityBoundsSigning(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "bound"})
	a := NewCAAuthority(ca, 2, 1)
	_, der := p256CSR(t)
	csr, err := pki.ParseCSR([]byte(der))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.SignClient(ctx, csr, "ann", 0); err != nil {
		t.Fatalf("sign with free slots: %v", err)
	}
	a.slots <- struct{}{}
	a.slots <- struct{}{}
	_, err = a.SignClient(ctx, csr, "ann", 0)
	var ref *Refusal
	if !errors.As(err, &ref) || ref.Reason != ReasonBusy || ref.Status != http.StatusServiceUnavailable {
		t.Fatalf("sign with every slot taken: %v, want a %s refusal with 503", err, ReasonBusy)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.SignClient(cctx, csr, "ann", 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("sign with every slot taken and the request gone: %v, want context.Canceled", err)
	}
	<-a.slots
	s, err := a.SignClient(ctx, csr, "ann", 0)
	if err != nil {
		t.Fatalf("sign with a slot freed: %v", err)
	}
	if want := ca.Identity(pki.ProfileClient, "ann").String(); s.Identity != want {
		t.Errorf("identity %s, want %s", s.Identity, want)
	}
	b1, root, _ := a.CA(ctx)
	b2, _, _ := a.CA(ctx)
	if &b1[0] != &b2[0] || !root.Equal(ca.Root()) {
		t.Errorf("the CA bundle is not the one kept in memory")
	}
	if _, err := x509.ParseCertificate(s.Certificate.Raw); err != nil {
		t.Fatal(err)
	}
}
