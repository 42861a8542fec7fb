package control

import (
	"crypto/tls"
	"strings"
	"testing"

	"intransit/internal/testutil/certs"
)

// handshaken returns the client and server states of a completed control
// TLS session.
func handshaken(t *testing.T) (client, server tls.ConnectionState) {
	t.Helper()
	p := newPKI(t)
	cc, sc := p.tlsPair(t)
	handshakeBoth(t, cc, sc)
	return cc.ConnectionState(), sc.ConnectionState()
}

func TestKeyBinding(t *testing.T) {
	client, server := handshaken(t)
	_, other := handshaken(t)
	wg := [32]byte{1, 2, 3}
	for _, kt := range []struct {
		name string
		kt   certs.KeyType
	}{{"ecdsa-p256", certs.ECDSAP256}, {"ecdsa-p384", certs.ECDSAP384}, {"rsa-2048", certs.RSA2048}, {"ed25519", certs.Ed25519}} {
		t.Run(kt.name, func(t *testing.T) {
			key := certs.NewKey(t, kt.kt)
			msg, err := bindingMessage(&client, Initiator, KindGateway, wg)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := signBinding(key, msg)
			if err != nil {
				t.Fatal(err)
			}
			// The other end of the same session computes the same message.
			peerView, err := bindingMessage(&server, Initiator, KindGateway, wg)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyBinding(key.Public(), peerView, sig); err != nil {
				t.Fatalf("valid binding: %v", err)
			}
			changed := []struct {
				what string
				ex   *tls.ConnectionState
				role Role
				kind Kind
				key  [32]byte
			}{
				{"reflected to the signer (other role)", &server, Responder, KindGateway, wg},
				{"replayed in another TLS session", &other, Initiator, KindGateway, wg},
				{"another kind", &server, Initiator, KindClient, wg},
				{"another WireGuard key", &server, Initiator, KindGateway, [32]byte{9}},
			}
			for _, c := range changed {
				m, err := bindingMessage(c.ex, c.role, c.kind, c.key)
				if err != nil {
					t.Fatal(err)
				}
				if err := verifyBinding(key.Public(), m, sig); err == nil || !strings.Contains(err.Error(), "does not verify") {
					t.Errorf("%s: %v", c.what, err)
				}
			}
			if err := verifyBinding(certs.NewKey(t, kt.kt).Public(), peerView, sig); err == nil {
				t.Error("verified with another certificate's key")
			}
		})
	}
	if err := verifyBinding("not a key", []byte("m"), []byte("s")); err == nil || !strings.Contains(err.Error(), "unsupported certificate key type") {
		t.Errorf("unsupported key: %v", err)
	}
}
