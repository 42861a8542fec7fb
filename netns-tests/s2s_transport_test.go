package netnstests

import (
	"strings"
	"testing"
	"time"

	"intransit/internal/status"
)

// TestS2SEachTransport runs the demo topology over each transport: the site
// hosts reach each other across both gateways, and status reports the
// transport in use, the routes (only what A's configuration allows B, not
// the extra prefix B offers), a handshake, bytes and the PSK; the opt-in
// metrics listener serves the peer's state.
func TestS2SEachTransport(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"udp", "quic", "tls"} {
		t.Run(tr, func(t *testing.T) {
			l := newS2SLab(t)
			l.cfgA.remotes[0].transports = tr
			l.cfgB.remotes[0].transports = tr
			l.cfgA.metrics = "127.0.0.1:9586"
			// B offers a prefix A does not allow it: A must not route it.
			l.cfgB.site = s2sSiteB + ", 10.9.0.0/24"
			a, b := l.start(t)
			pa := a.waitUp("site-b", 20*time.Second)
			b.waitUp("site-a", 20*time.Second)
			mustPing(t, l.siteA, s2sHostB, 5)
			mustPing(t, l.siteB, s2sHostA, 5)
			transfer(t, l.xfer(t), l.siteA, l.siteB, s2sHostB, 4<<20)
			pa = a.peer("site-b")
			if pa.Transport != tr || pa.LastHandshake.IsZero() || pa.TxBytes == 0 || pa.RxBytes == 0 {
				t.Errorf("gw-a status for site-b: transport %q handshake %v bytes %d/%d", pa.Transport, pa.LastHandshake, pa.RxBytes, pa.TxBytes)
			}
			if len(pa.Routes) != 1 || pa.Routes[0] != s2sSiteB || pa.PSKEpoch < 1 || pa.PSKID == "" || pa.CertExpiry.IsZero() {
				t.Errorf("gw-a status for site-b: routes %v psk %d %q cert expiry %v", pa.Routes, pa.PSKEpoch, pa.PSKID, pa.CertExpiry)
			}
			metrics := l.gwA.MustRun("curl", "-fsS", "http://127.0.0.1:9586/metrics")
			for _, want := range []string{`intransit_s2s_peer_up{remote="site-b"} 1`, `intransit_s2s_peer_psk_epoch{remote="site-b"}`,
				`intransit_s2s_peer_tx_bytes_total{remote="site-b"}`, `intransit_tls_handshakes_total{`,
				`intransit_control_sessions_established_total{role=`, `intransit_control_psk_rotations_total{role=`,
				`intransit_transport_unreachable_total{gateway="s2s",transport="tls"} 0`} {
				if !strings.Contains(metrics, want) {
					t.Errorf("metrics lack %q", want)
				}
			}
			a.stop()
			b.stop()
		})
	}
}

// TestS2STransportFallback blocks UDP 51820 at gateway B: the dialing
// gateway, whose order is udp, quic, tls, gets no WireGuard handshake over
// udp and moves on to quic by itself; the sites then reach each other.
func TestS2STransportFallback(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	l.gwB.Block("udp", 51820)
	a, b := l.start(t)
	b.waitUp("site-a", 20*time.Second)
	p := a.waitPeer("site-b", 30*time.Second, "on quic with a handshake", func(p status.Peer) bool {
		return p.State == status.StateUp && p.Transport == "quic" && !p.LastHandshake.IsZero()
	})
	t.Logf("gw-a moved to %s (%s)", p.Transport, p.Endpoint)
	mustPing(t, l.siteA, s2sHostB, 3)
	a.stop()
	b.stop()
}
