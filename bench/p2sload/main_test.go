package main

import (
	"net"
	"testing"
)

// Every simulated client has a loopback source address of its own, apart
// from the gateway's (127.0.0.1) and the flood's (127.0.0.2) in
// bench/p2s.sh.
func TestClientSourcesDistinct(t *testing.T) {
	seen := map[string]int{}
	loop := &net.IPNet{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)}
	for i := range 60000 {
		ip := clientSource(i)
		if !loop.Contains(ip) || ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv4(127, 0, 0, 2)) || ip[len(ip)-1] == 0 || ip[len(ip)-1] == 255 {
			t.Fatalf("client %d: source %s", i, ip)
		}
		if j, ok := seen[ip.String()]; ok {
			t.Fatalf("clients %d and %d share %s", j, i, ip)
		}
		seen[ip.String()] = i
	}
}
