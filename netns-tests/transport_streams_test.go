package netnstests

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
	"intransit/netns-tests/testpeer"
	"intransit/tunnel/transport"
)

// TestQUICAndTLSTunnels runs the two-host tunnel over the quic and the tls
// transport in turn: pings both ways over IPv4 and IPv6, 50 MiB each way
// over TCP checked by SHA-256, and a capture of the underlay from before
// the first packet that shows the marker nowhere, only the transport's
// outer protocol and port, and that protocol's handshake with our ALPN.
func TestQUICAndTLSTunnels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		transport string
		proto     string
		check     func(t *testing.T, wire *netlab.Pcap)
	}{
		{transport: testpeer.TransportQUIC, proto: "udp", check: checkQUICWire},
		{transport: testpeer.TransportTLS, proto: "tcp", check: checkTLSWire},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			opts := pairOptions{transport: tc.transport}
			p := newPair(t, opts)
			// Capture before any traffic: the transport dials lazily, so
			// its handshake is in the capture.
			under := p.link.B.Capture()
			xfer := netlab.GoBuild(t, "intransit/netns-tests/xfer", true)
			mustPing(t, p.a, innerB4, 3)
			mustPing(t, p.b, innerA4, 3)
			mustPing(t, p.a, innerB6, 3)
			mustPing(t, p.b, innerA6, 3)

			const marker = "intransit-mark!!" // 16 bytes: ping -p repeats it
			inner := p.b.Iface("wg0").Capture()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, dst := range []string{innerB4, innerB6} {
				if out, err := p.a.Run(ctx, "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-s", "200", "-p", fmt.Sprintf("%x", marker), dst); err != nil {
					t.Fatalf("ping with marker to %s: %v\n%s", dst, err, out)
				}
			}
			wire, tun := under.Stop(), inner.Stop()
			if !tun.Contains([]byte(marker)) {
				t.Fatalf("marker not seen on the TUN interface (%d packets): the search or the traffic is broken", len(tun.Packets))
			}
			if wire.Contains([]byte(marker)) {
				t.Errorf("marker visible on the underlay")
			}
			port := opts.listenPort()
			if n := wire.Count(tc.proto, port); n < 24 {
				t.Errorf("%d %s/%d packets on the underlay, want at least 24 (18 pings and their replies)", n, tc.proto, port)
			}
			for _, f := range wire.Flows() {
				switch {
				case f.Proto == tc.proto && f.Port == port:
				case f.Proto == "icmpv6" && f.Port == 0: // neighbour discovery of the underlay
				default:
					t.Errorf("unexpected traffic on the underlay: %s (flows %v)", f, wire.Flows())
				}
			}
			tc.check(t, wire)

			transfer(t, xfer, p.a, p.b, innerB4, transferBytes)
			transfer(t, xfer, p.b, p.a, innerA6, transferBytes)
			st, ok := p.ea.Peer(p.eb.PublicKey)
			if !ok || st.LastHandshake.IsZero() || st.TxBytes < transferBytes || st.RxBytes < transferBytes {
				t.Errorf("peer b as seen by a after 2x50 MiB: %+v (found %v)", st, ok)
			}
			if !strings.HasPrefix(st.Endpoint, tc.transport+"://") {
				t.Errorf("peer b's endpoint %q is not a %s endpoint", st.Endpoint, tc.transport)
			}
		})
	}
}

// checkQUICWire checks that the UDP 443 traffic is QUIC version 1: every
// packet has the fixed bit, and the connection began with long-header
// packets of version 1 (the Initial carrying the TLS ClientHello).
func checkQUICWire(t *testing.T, wire *netlab.Pcap) {
	t.Helper()
	long := 0
	for _, pk := range wire.Packets {
		if pk.Proto != "udp" || len(pk.Payload) == 0 {
			continue
		}
		b := pk.Payload
		if b[0]&0x40 == 0 {
			t.Errorf("UDP packet %s -> %s without the QUIC fixed bit: % x", pk.Src, pk.Dst, b[:min(8, len(b))])
			return
		}
		if b[0]&0x80 != 0 && len(b) >= 5 && binary.BigEndian.Uint32(b[1:5]) == 1 {
			long++
		}
	}
	if long < 2 {
		t.Errorf("%d QUIC v1 long-header packets, want the handshake (at least 2)", long)
	}
}

// checkTLSWire checks that the TCP 443 traffic is TLS: a ClientHello that
// offers our ALPN, and application data records after it.
func checkTLSWire(t *testing.T, wire *netlab.Pcap) {
	t.Helper()
	hello, appData := false, false
	for _, pk := range wire.Packets {
		b := pk.Payload
		if pk.Proto != "tcp" || len(b) < 6 {
			continue
		}
		if b[0] == 0x16 && b[1] == 3 && b[5] == 1 && bytes.Contains(b, []byte(transport.ALPN)) {
			hello = true
		}
		if b[0] == 0x17 && b[1] == 3 && b[2] == 3 {
			appData = true
		}
	}
	if !hello {
		t.Errorf("no TLS ClientHello offering ALPN %q on the underlay", transport.ALPN)
	}
	if !appData {
		t.Errorf("no TLS application data records on the underlay")
	}
}
