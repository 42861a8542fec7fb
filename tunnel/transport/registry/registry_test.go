package registry

import (
	"strings"
	"testing"

	"intransit/tunnel/transport"
)

// TestTable checks what every entry must hold: a unique name, a known
// network, a port, a constructor, and an inner MTU that fits the path
// and allows IPv6 at the default path MTU.
func TestTable(t *testing.T) {
	seen := map[string]bool{}
	for _, tr := range All() {
		if tr.Name == "" || seen[tr.Name] {
			t.Errorf("name %q empty or repeated", tr.Name)
		}
		seen[tr.Name] = true
		if tr.Network != transport.NetworkUDP && tr.Network != transport.NetworkTCP {
			t.Errorf("%s: network %q", tr.Name, tr.Network)
		}
		if tr.DefaultPort == 0 || tr.New == nil || tr.InnerMTU == nil {
			t.Errorf("%s: incomplete entry %+v", tr.Name, tr)
		}
		for _, path := range []int{transport.MinPathMTU, transport.DefaultPathMTU, 9000} {
			if m := tr.InnerMTU(path); m > path-transport.WireGuardOverhead-28 || m < 576 {
				t.Errorf("%s: inner MTU %d over a %d path", tr.Name, m, path)
			}
		}
		if m := tr.InnerMTU(transport.DefaultPathMTU); m < transport.MinIPv6MTU {
			t.Errorf("%s: inner MTU %d at the default path MTU leaves no IPv6", tr.Name, m)
		}
		b, err := New(tr.Name, transport.Options{})
		if tr.TLS {
			if err == nil {
				t.Errorf("%s: built without TLS configurations", tr.Name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tr.Name, err)
		}
		if b.Scheme() != tr.Name {
			t.Errorf("%s: Bind scheme %q", tr.Name, b.Scheme())
		}
	}
	if got := strings.Join(Names(), ","); got != "udp,quic,tls" {
		t.Errorf("Names = %s", got)
	}
}

func TestInnerMTU(t *testing.T) {
	for _, tc := range []struct {
		name string
		path int
		want int
		bad  bool
	}{
		{name: "udp", path: 1500, want: 1420},
		{name: "tls", path: 1500, want: 1420},
		{name: "quic", path: 1500, want: 1380},
		{name: "quic", path: 9000, want: 1380},
		{name: "udp", path: 9000, want: 8920},
		{name: "quic", path: 1400, want: 1280},
		{name: "udp", path: 1280, want: 1200},
		{name: "tls", path: 1280, want: 1200},
		{name: "quic", path: 1280, want: 1160},
		{name: "udp", path: 1279, bad: true},
		{name: "quic", path: 1200, bad: true},
		{name: "sctp", path: 1500, bad: true},
	} {
		got, err := InnerMTU(tc.name, tc.path)
		if tc.bad {
			if err == nil {
				t.Errorf("InnerMTU(%s, %d) = %d, want an error", tc.name, tc.path, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("InnerMTU(%s, %d) = %d, %v; want %d", tc.name, tc.path, got, err, tc.want)
		}
	}
	if m, err := FallbackMTU(Names(), 1500); err != nil || m != 1380 {
		t.Errorf("FallbackMTU(all, 1500) = %d, %v; want 1380", m, err)
	}
	if m, err := FallbackMTU([]string{"udp", "tls"}, 1280); err != nil || m != 1200 {
		t.Errorf("FallbackMTU(udp, tls, 1280) = %d, %v; want 1200", m, err)
	}
	if _, err := FallbackMTU(nil, 1500); err == nil {
		t.Error("FallbackMTU(nil) succeeded")
	}
	if err := CheckPathMTU(1000); err == nil || !strings.Contains(err.Error(), "at least 1280") {
		t.Errorf("CheckPathMTU(1000) = %v, want a refusal that says what to do", err)
	}
}

func TestIPv6Error(t *testing.T) {
	if err := IPv6Error(1380, 1500); err != nil {
		t.Errorf("IPv6Error(1380) = %v", err)
	}
	err := IPv6Error(1160, 1280)
	if err == nil || !strings.Contains(err.Error(), "at least 1400") {
		t.Errorf("IPv6Error(1160, 1280) = %v, want one naming a path MTU of 1400", err)
	}
}

func TestLookup(t *testing.T) {
	if _, err := Lookup("sctp"); err == nil || !strings.Contains(err.Error(), "udp, quic, tls") {
		t.Errorf("Lookup(sctp) = %v", err)
	}
}
