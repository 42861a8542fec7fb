package peersettest_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"intransit/internal/gatewaycore"
	"intransit/internal/gatewaycore/peersettest"
	"intransit/netns-tests/netlab"
	"intransit/tunnel"
)

// deviceNS tells the test binary that it runs inside the namespace made
// for it.
const deviceNS = "PEERSETTEST_DEVICE_NS"

// A *tunnel.Device is a PeerSet.
var _ gatewaycore.PeerSet = (*tunnel.Device)(nil)

// TestDeviceContract runs the PeerSet contract against a real
// tunnel.Device (TUN and wireguard-go). A device must be opened by a
// process inside the namespace it serves, so the test binary is started
// again inside a fresh one.
func TestDeviceContract(t *testing.T) {
	if os.Getenv(deviceNS) != "" {
		peersettest.Run(t, openDevice)
		return
	}
	netlab.RequireRoot(t)
	h := netlab.New(t).Host("peerset")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := h.Command(ctx, os.Args[0], "-test.run=^TestDeviceContract$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), deviceNS+"="+h.Namespace())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDeviceContract/closed") {
		t.Fatalf("contract on a tunnel.Device in namespace %s: %v\n%s", h.Namespace(), err, out)
	}
}

func openDevice(t *testing.T) peersettest.Set {
	t.Helper()
	priv, err := tunnel.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	d, err := tunnel.Open(context.Background(), tunnel.Config{Name: "pstest0", MTU: 1400, PrivateKey: priv,
		Bind: conn.NewStdNetBind(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
