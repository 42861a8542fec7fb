//go:build !linux

package udp

import "golang.zx2c4.com/wireguard/conn"

// newBind returns wireguard-go's StdNetBind: the Bind of this package is
// Linux only.
func newBind() conn.Bind { return conn.NewStdNetBind() }

func ownsEndpoint(ep conn.Endpoint) bool {
	_, ok := ep.(*conn.StdNetEndpoint)
	return ok
}
