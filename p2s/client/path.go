package client

import (
	"errors"
	"time"

	"intransit/tunnel/transport"
)

// clientPath is the gateway peer as the path monitor drives it.
type clientPath struct{ c *Client }

// Observe reports the gateway peer.
func (p clientPath) Observe() (transport.Observation, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dev == nil {
		return transport.Observation{}, errors.New("the interface is gone")
	}
	ps, err := c.dev.Peer(c.pc.PublicKey)
	if err != nil {
		return transport.Observation{}, err
	}
	r := c.dev.LastProbeReply(c.pc.PublicKey)
	return transport.Observation{ReplySent: r.Sent, ReplyReceived: r.Received, LastHandshake: ps.LastHandshake, Endpoint: ps.Endpoint}, nil
}

// Probe sends a probe to the gateway.
func (p clientPath) Probe() error {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dev == nil {
		return errors.New("the interface is gone")
	}
	return c.dev.SendProbe(c.pc.PublicKey)
}

// Apply points the gateway peer at ep.
func (p clientPath) Apply(ep string, renew bool) error {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dev == nil {
		return errors.New("the interface is gone")
	}
	c.pc.Endpoint = ep
	if renew {
		return c.freshPeer()
	}
	return c.dev.UpdatePeer(c.pc)
}

// dataPlaneHeard is the control session's liveness source: when the
// gateway last answered a probe (the path monitor probes every second),
// the zero time without a device or an answer.
func (c *Client) dataPlaneHeard() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dev == nil {
		return time.Time{}
	}
	return c.dev.LastProbeReply(c.pc.PublicKey).Received
}
