package multi

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"intransit/tunnel/transport/internal/transporttest"
)

// TestCollectorCountsUnreachable: an accept-only gateway Bind (as the
// point-to-site gateway's) asked to send to a laptop it has no connection
// with drops the messages, and the metric says so per transport.
func TestCollectorCountsUnreachable(t *testing.T) {
	server, _ := transporttest.TLSConfigs(t, "modern")
	b, err := Listen([]Listener{
		{Name: "udp", Endpoint: netip.MustParseAddrPort("127.0.0.1:0")},
		{Name: "quic", Endpoint: netip.MustParseAddrPort("127.0.0.1:0")},
		{Name: "tls", Endpoint: netip.MustParseAddrPort("127.0.0.1:0")},
	}, func() (*tls.Config, *tls.Config, error) { return server, nil, nil }, 1280, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Open(0); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ep, err := b.ParseEndpoint("tls://192.0.2.9:443")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := b.Send([][]byte{{1}, {2}}, ep); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(b, "p2s"))
	// A second gateway's collector registers beside it.
	if err := reg.Register(NewCollector(b, "s2s")); err != nil {
		t.Fatalf("a second gateway's collector: %v", err)
	}
	want := `
# HELP intransit_transport_unreachable_total WireGuard messages dropped for a peer with no connection, by a transport that only accepts (the peer left it).
# TYPE intransit_transport_unreachable_total counter
intransit_transport_unreachable_total{gateway="p2s",transport="quic"} 0
intransit_transport_unreachable_total{gateway="p2s",transport="tls"} 6
intransit_transport_unreachable_total{gateway="s2s",transport="quic"} 0
intransit_transport_unreachable_total{gateway="s2s",transport="tls"} 6
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "intransit_transport_unreachable_total"); err != nil {
		t.Fatal(err)
	}
}
