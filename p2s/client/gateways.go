package client

import (
	"context"
	"net/netip"
	"time"

	"intransit/tunnel/control"
	"intransit/tunnel/transport"
)

// giveUpAfter is how long a client with several gateways waits without an
// answer through the tunnel over any transport, once the gateway answered,
// before it ends the session and dials the next gateway: one probe
// interval and a bit past the path monitor's DeadAfter, so that a
// transport that died alone is left for another transport of the same
// gateway first. A gateway that died with its host is left within it; one
// whose process died closed the control connection and is left at once.
const giveUpAfter = transport.DefaultDeadAfter + 2*time.Second

// hosts are the profile's gateways: the one enrolled at first.
func (c *Client) hosts() []string {
	return append([]string{c.profile.Gateway}, c.profile.Gateways...)
}

// host is the gateway the client dials now.
func (c *Client) host() string {
	hs := c.hosts()
	return hs[int(c.gateway.Load())%len(hs)]
}

// nextGateway moves to the next of the profile's gateways for the next
// dial, after a session ended or a dial failed. A client of a gateway
// alone keeps dialing it.
func (c *Client) nextGateway() {
	hs := c.hosts()
	if len(hs) < 2 {
		return
	}
	prev := c.host()
	c.gateway.Add(1)
	c.log.Info("trying the next gateway", "gateway", c.host(), "previous", prev)
}

// monitorConfig is the path monitor's configuration for a session: with
// several gateways, it gives up a gateway that went silent (giveUpAfter).
func (c *Client) monitorConfig(endpoints []string) transport.MonitorConfig {
	cfg := c.opts.Path
	cfg.Endpoints = endpoints
	if len(c.profile.Gateways) > 0 && cfg.GiveUpAfter == 0 {
		cfg.GiveUpAfter = giveUpAfter
	}
	return cfg
}

// gaveUp ends the session whose path monitor gave its gateway up, so that
// the next dial goes to another gateway.
func (c *Client) gaveUp(w *transport.Watch) {
	if !w.GaveUp() {
		return
	}
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess != nil {
		sess.Close(control.ReasonTimeout, "no answer from the gateway through the tunnel over any transport")
	}
}

// gatewayAddrs resolves every gateway of the profile, for the fail-closed
// block that lets the tunnel's own packets reach them; one that does not
// resolve now is left out (the record keeps its last address).
func (c *Client) gatewayAddrs(ctx context.Context) []netip.Addr {
	var out []netip.Addr
	for _, h := range c.hosts() {
		if a, err := c.resolve(ctx, h); err == nil {
			out = append(out, a)
		}
	}
	return out
}
