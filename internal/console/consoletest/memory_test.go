package consoletest

import (
	"net/http/httptest"
	"testing"
	"time"

	"intransit/internal/console"
	"intransit/internal/status"
)

// base is a report with something in every slice the suite scribbles on.
func base() status.Report {
	return status.Report{
		Gateway:  status.Gateway{Identity: "intransit://memory/gateway/gw", Transports: []string{"udp/51820"}, SitePrefixes: []string{"10.2.0.0/24"}},
		Peers:    []status.Peer{{Name: "site-a", State: status.StateUp, Routes: []string{"10.1.0.0/24"}}},
		Refusals: []status.Refusal{{Time: time.Unix(1, 0), Remote: "192.0.2.9:1", Reason: "revoked", Detail: "certificate revoked"}},
		Blocks:   []status.Block{{Interface: "it0", Reason: "site-a down"}},
		P2S: &status.P2S{Interface: "itp0", Transports: []string{"udp/51821"}, Pools: []string{"10.9.0.0/24"},
			Statics:  []status.P2SClient{{Name: "printer", Group: "staff", Addresses: []string{"10.9.0.200"}, Routes: []string{"10.2.0.0/24"}, Static: true}},
			Refusals: []status.Refusal{{Time: time.Unix(2, 0), Remote: "198.51.100.7:1", Reason: "token_used", Detail: "the token was used"}}},
	}
}

func connect(m *Memory) func(*testing.T, console.Invitation) {
	return func(t *testing.T, inv console.Invitation) {
		if err := m.Enroll(inv.Token); err != nil {
			t.Fatalf("enroll with the invitation: %v", err)
		}
	}
}

func TestMemory(t *testing.T) {
	m := NewMemory(base(), "staff")
	Run(t, Fixture{Source: m, Actions: m, Group: "staff", Connect: connect(m)}, "ct-")
}

// TestThroughTheConsole runs the suite on Memory through a console's
// pages: what the operator's browser posts reaches the Actions, and what
// they answer (an invitation, an error) reaches the operator unchanged.
func TestThroughTheConsole(t *testing.T) {
	m := NewMemory(base(), "staff")
	c, err := console.New(console.Options{Source: m, Actions: m, Groups: []string{"staff"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	acts := &HTTPActions{Base: srv.URL, Client: srv.Client()}
	Run(t, Fixture{Source: m, Actions: acts, Group: "staff", Connect: connect(m)}, "ct-")
}
