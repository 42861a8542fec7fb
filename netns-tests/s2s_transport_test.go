package netnstests

import (
	"testing"
	"time"
)

// TestS2SEachTransport runs the demo topology over each transport: the site
// hosts reach each other across both gateways, and status reports the
// transport in use, the routes, a handshake, bytes and the PSK.
func TestS2SEachTransport(t *testing.T) {
	for _, tr := range []string{"udp", "quic", "tls"} {
		t.Run(tr, func(t *testing.T) {
			l := newS2SLab(t)
			l.cfgA.remotes[0].transports = tr
			l.cfgB.remotes[0].transports = tr
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
			a.stop()
			b.stop()
		})
	}
}
