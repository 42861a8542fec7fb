package control

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// helloInitiator sends this end's Hello first, then verifies the
// responder's (and, on a client, the Assignment that follows it).
func (r *run) helloInitiator(ctx context.Context) error {
	h, err := r.ownHello()
	if err != nil {
		return err
	}
	if err := r.send(h); err != nil {
		return err
	}
	ph, err := r.expectHello(ctx)
	if err != nil {
		return err
	}
	peer, err := r.verifyHello(ph)
	if err != nil {
		return err
	}
	if peer.Kind != KindGateway {
		return refusef(ReasonIdentity, "the responder says it is a %s; only gateways accept control connections", peer.Kind)
	}
	if r.cfg.Kind == KindClient {
		m, err := r.expect(ctx, TypeAssignment)
		if err != nil {
			return err
		}
		peer.Assignment = m.(*Assignment)
	}
	adm, err := r.admit(ctx, peer)
	if err != nil {
		return err
	}
	if adm.Assignment != nil {
		return &SessionError{Reason: ReasonInternal, Detail: "admission failed", err: errors.New("the Admit callback returned an Assignment on an initiator")}
	}
	offered := peer.Offered
	if peer.Assignment != nil {
		offered = peer.Assignment.Routes
	}
	if peer.Routes, err = Agree(offered, adm.AllowedPrefixes, r.cfg.Prefixes); err != nil {
		return refusef(ReasonPrefixes, "%v", err)
	}
	r.peer = peer
	return nil
}

// helloResponder verifies the initiator's Hello, admits it, then answers
// with its own Hello (and an Assignment for a client).
func (r *run) helloResponder(ctx context.Context) error {
	ph, err := r.expectHello(ctx)
	if err != nil {
		return err
	}
	peer, err := r.verifyHello(ph)
	if err != nil {
		return err
	}
	if peer.Kind == KindClient && len(peer.Offered) > 0 {
		return refusef(ReasonPrefixes, "a client offers no prefixes; this one offered %s", joinPrefixes(peer.Offered))
	}
	adm, err := r.admit(ctx, peer)
	if err != nil {
		return err
	}
	offered := peer.Offered
	if peer.Kind == KindClient {
		if adm.Assignment == nil {
			return &SessionError{Reason: ReasonInternal, Detail: "admission failed", err: errors.New("the Admit callback returned no Assignment for a client")}
		}
		peer.Assignment = adm.Assignment
		offered = nil
		for _, a := range adm.Assignment.Addresses {
			offered = append(offered, netip.PrefixFrom(a, a.BitLen()))
		}
	} else if adm.Assignment != nil {
		return &SessionError{Reason: ReasonInternal, Detail: "admission failed", err: errors.New("the Admit callback returned an Assignment for a gateway")}
	}
	if peer.Routes, err = Agree(offered, adm.AllowedPrefixes, r.cfg.Prefixes); err != nil {
		return refusef(ReasonPrefixes, "%v", err)
	}
	if peer.Kind == KindClient && len(peer.Routes.Refused) > 0 {
		return &SessionError{Reason: ReasonInternal, Detail: "admission failed", err: errors.New("the client's assigned addresses are outside the allowed prefixes: " + peer.Routes.Refused[0].Why)}
	}
	h, err := r.ownHello()
	if err != nil {
		return err
	}
	if err := r.send(h); err != nil {
		return err
	}
	if peer.Assignment != nil {
		if err := r.send(peer.Assignment); err != nil {
			return err
		}
	}
	r.peer = peer
	return nil
}

// admit runs Config.Admit; a plain error refuses with ReasonIdentity and a
// generic detail, so that local errors are not shown to the peer.
func (r *run) admit(ctx context.Context, peer *Peer) (*Admission, error) {
	adm, err := r.cfg.Admit(ctx, peer)
	if err != nil {
		var se *SessionError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, &SessionError{Reason: ReasonIdentity, Detail: "not admitted", err: err}
	}
	if adm == nil {
		return nil, &SessionError{Reason: ReasonInternal, Detail: "admission failed", err: errors.New("the Admit callback returned no Admission")}
	}
	if err := ValidatePrefixes("allowed_prefixes", adm.AllowedPrefixes); err != nil {
		return nil, &SessionError{Reason: ReasonInternal, Detail: "admission failed", err: fmt.Errorf("the Admit callback: %w", err)}
	}
	return adm, nil
}

func (r *run) expectHello(ctx context.Context) (*Hello, error) {
	m, err := r.expect(ctx, TypeHello)
	if err != nil {
		return nil, err
	}
	return m.(*Hello), nil
}

// expect receives the next message and refuses anything but type t.
func (r *run) expect(ctx context.Context, t Type) (Message, error) {
	m, err := r.receive(ctx, time.Now().Add(r.cfg.DeadAfter))
	if err != nil {
		return nil, err
	}
	if m.Type() != t {
		return nil, refusef(ReasonUnexpected, "expected %s, got %s", t, m.Type())
	}
	return m, nil
}

func (r *run) ownHello() (*Hello, error) {
	msg, err := bindingMessage(&r.cs, r.cfg.Role, r.cfg.Kind, r.cfg.WireGuardKey)
	if err != nil {
		return nil, &SessionError{Reason: ReasonInternal, Detail: "cannot sign the key binding", err: err}
	}
	sig, err := signBinding(r.cfg.Signer, msg)
	if err != nil {
		return nil, &SessionError{Reason: ReasonInternal, Detail: "cannot sign the key binding", err: err}
	}
	return &Hello{Kind: r.cfg.Kind, WireGuardKey: r.cfg.WireGuardKey, KeySignature: sig, Prefixes: r.cfg.Prefixes, Transports: r.cfg.Transports}, nil
}

// verifyHello checks the peer's Hello against its certificate and this TLS
// session.
func (r *run) verifyHello(h *Hello) (*Peer, error) {
	cert := r.cs.PeerCertificates[0]
	peerRole := Initiator
	if r.cfg.Role == Initiator {
		peerRole = Responder
	}
	if h.WireGuardKey == ([32]byte{}) {
		return nil, refusef(ReasonKeyBinding, "the peer's WireGuard key is all zeros")
	}
	if h.WireGuardKey == r.cfg.WireGuardKey {
		return nil, refusef(ReasonKeyBinding, "the peer presents this end's own WireGuard key")
	}
	msg, err := bindingMessage(&r.cs, peerRole, h.Kind, h.WireGuardKey)
	if err != nil {
		return nil, &SessionError{Reason: ReasonInternal, Detail: "cannot verify the key binding", err: err}
	}
	if err := verifyBinding(cert.PublicKey, msg, h.KeySignature); err != nil {
		return nil, refusef(ReasonKeyBinding, "%s: %v", IdentityOf(cert), err)
	}
	if err := ValidatePrefixes("offered", h.Prefixes); err != nil {
		return nil, refusef(ReasonPrefixes, "%v", err)
	}
	return &Peer{
		Certificate:  cert,
		Identity:     IdentityOf(cert),
		Kind:         h.Kind,
		WireGuardKey: h.WireGuardKey,
		Offered:      h.Prefixes,
		Transports:   h.Transports,
	}, nil
}

// IdentityOf names a certificate: first URI SAN, else first DNS SAN, else
// the common name.
func IdentityOf(c *x509.Certificate) string {
	switch {
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	}
	return c.Subject.CommonName
}
