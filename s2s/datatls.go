package s2s

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"

	"intransit/internal/gatewaycore"
	"intransit/tlspolicy"
)

// dataClientTLS is the client configuration of the quic and tls transports.
// The transports dial remote gateways by IP address, and one Bind serves
// every remote, so the server's certificate is checked against the CAs,
// the CRL, the profile and the identities of all configured remotes (the
// WireGuard handshake then proves which remote it is); the allow-list
// follows reloads.
type dataClientTLS struct {
	base tlspolicy.Options
	cur  atomic.Pointer[tls.Config]
}

// dataTLSConfigs returns the server and client configurations of the quic
// and tls transports, creating the shared client state on first use.
func (g *Gateway) dataTLSConfigs() (server, client *tls.Config, err error) {
	// One line per refusal reason at most every interval: the quic and
	// tls transports face the internet like the control listener.
	o := g.id.Options(gatewaycore.LimitLog(g.log, gatewaycore.DefaultLogEvery))
	server, err = tlspolicy.ServerConfig(o)
	if err != nil {
		return nil, nil, fmt.Errorf("s2s: data-plane TLS: %w", err)
	}
	if g.dataTLS == nil {
		d := &dataClientTLS{base: o}
		if err := d.setRemotes(g.opts.Remotes); err != nil {
			return nil, nil, err
		}
		g.dataTLS = d
	}
	first := g.dataTLS.cur.Load()
	client = first.Clone()
	d := g.dataTLS
	client.VerifyConnection = func(cs tls.ConnectionState) error {
		// The name dialed is an IP address; the identity allow-list
		// decides instead.
		cs.ServerName = ""
		return d.cur.Load().VerifyConnection(cs)
	}
	return server, client, nil
}

// setRemotes rebuilds the allow-list from the remotes; a nil receiver (no
// quic or tls transport served) does nothing.
func (d *dataClientTLS) setRemotes(remotes []Remote) error {
	if d == nil {
		return nil
	}
	o := d.base
	for _, r := range remotes {
		a := r.allow()
		o.Allow.URIs = append(o.Allow.URIs, a.URIs...)
		o.Allow.DNSNames = append(o.Allow.DNSNames, a.DNSNames...)
	}
	cfg, err := tlspolicy.ClientConfig(o)
	if err != nil {
		return fmt.Errorf("s2s: data-plane TLS: %w", err)
	}
	d.cur.Store(cfg)
	return nil
}
