package testpeer

import (
	"fmt"

	"golang.zx2c4.com/wireguard/conn"

	"intransit/tunnel/transport/udp"
)

// NewBind returns the Bind for the configured transport. It is the one
// place where the endpoint chooses how WireGuard messages travel.
func (c *Config) NewBind() (conn.Bind, string, error) {
	switch c.Transport {
	case "", TransportUDP:
		return udp.New(), TransportUDP, nil
	default:
		return nil, "", fmt.Errorf("transport %q: not supported by the test peer", c.Transport)
	}
}
