package netnstests

import (
	"strings"
	"testing"
	"time"
)

// TestP2SConnectNoGatewayInitiation: a laptop connects, and the gateway
// never starts a WireGuard handshake toward it. The gateway learns a
// client's endpoint only from the client's handshake, so an initiation of
// its own at connect can only fail (two X25519 operations wasted per
// connect); its keepalive toward the client goes on once the client's
// first probe came through the tunnel, and that first keepalive goes out
// under the client's session. The observable is wireguard-go's own
// debug log of the gateway: "Sending handshake initiation" is logged by
// SendHandshakeInitiation before the initiation is built, "Sending
// keepalive packet" when a keepalive is queued.
func TestP2SConnectNoGatewayInitiation(t *testing.T) {
	t.Parallel()
	l := newP2SLab(t)
	l.top = "log_level: debug\n"
	l.config = l.writeConfig()
	l.start()
	lp := l.addLaptop("alice")
	if out, err := lp.enroll(l.invite("alice", "1h")); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	lp.connect()
	first := lp.wait(20*time.Second, "connected on udp", laptopOnUDP)
	if !lp.ping(p2sSiteHost) {
		t.Fatalf("the laptop does not reach the site host\n%s", lp.proc.Output())
	}
	// The keepalive goes on at the gateway's next look at its control
	// session after the first probe: within a keepalive interval or two.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.gw.proc.Output(), "Sending keepalive packet") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	out := l.gw.proc.Output()
	initiations := strings.Count(out, "Sending handshake initiation")
	keepalives := strings.Count(out, "Sending keepalive packet")
	st := lp.status()
	t.Logf("gateway: %d handshake initiations, %d keepalives sent; laptop handshake at connect %v, now %v",
		initiations, keepalives, first.LastHandshake.Format(time.StampMilli), st.LastHandshake.Format(time.StampMilli))
	if keepalives == 0 {
		t.Errorf("the gateway never sent the client a keepalive within 10 s of connecting")
	}
	if initiations != 0 {
		t.Errorf("the gateway started %d WireGuard handshakes toward a client it only answers", initiations)
	}
}
