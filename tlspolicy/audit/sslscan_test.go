package audit

import (
	"context"
	"encoding/xml"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// sslscanResult is the part of `sslscan --xml=-` the comparison needs.
type sslscanResult struct {
	SSLTests []struct {
		Protocols []struct {
			Type    string `xml:"type,attr"`
			Version string `xml:"version,attr"`
			Enabled string `xml:"enabled,attr"`
		} `xml:"protocol"`
		Groups []struct {
			SSLVersion string `xml:"sslversion,attr"`
			ID         string `xml:"id,attr"`
		} `xml:"group"`
		Ciphers []struct {
			Status     string `xml:"status,attr"`
			SSLVersion string `xml:"sslversion,attr"`
			ID         string `xml:"id,attr"`
		} `xml:"cipher"`
	} `xml:"ssltest"`
}

// sslscanAccepted runs sslscan against addr and returns its accepted suites
// ("TLS 1.2 0xc02b", sorted), enabled protocols ("TLS 1.0") and TLS 1.3
// groups ("0x001d", sorted).
func sslscanAccepted(t *testing.T, addr string) (suiteList, protocols, groups13 []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sslscan", "--no-colour", "--no-heartbleed", "--xml=-", addr).Output()
	if err != nil {
		t.Fatalf("sslscan %s: %v", addr, err)
	}
	var res sslscanResult
	if err := xml.Unmarshal(out, &res); err != nil {
		t.Fatalf("parse sslscan XML: %v\n%s", err, out)
	}
	if len(res.SSLTests) != 1 {
		t.Fatalf("sslscan XML has %d ssltest elements, want 1:\n%s", len(res.SSLTests), out)
	}
	names := map[string]string{"SSLv2": "SSL 2.0", "SSLv3": "SSL 3.0", "TLSv1.0": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}
	for _, c := range res.SSLTests[0].Ciphers {
		name, ok := names[c.SSLVersion]
		if !ok {
			t.Fatalf("sslscan reports unknown version %q", c.SSLVersion)
		}
		suiteList = append(suiteList, name+" "+strings.ToLower(c.ID))
	}
	for _, p := range res.SSLTests[0].Protocols {
		if p.Enabled == "1" {
			protocols = append(protocols, fmt.Sprintf("%s %s", strings.ToUpper(p.Type), p.Version))
		}
	}
	for _, g := range res.SSLTests[0].Groups {
		if g.SSLVersion == "TLSv1.3" {
			groups13 = append(groups13, strings.ToLower(g.ID))
		}
	}
	slices.Sort(suiteList)
	slices.Sort(groups13)
	return suiteList, protocols, groups13
}

func TestFindingsMatchSSLScan(t *testing.T) {
	requireTool(t, "sslscan")
	for _, srv := range []struct {
		name  string
		start func(*testing.T) (string, string)
	}{{"weak", weakServer}, {"strong", strongServer}, {"mixed", mixedServer}, {"ffdhe", ffdheServer}} {
		t.Run(srv.name, func(t *testing.T) {
			addr, cert := srv.start(t)
			r := runAudit(t, addr, rootsFrom(t, cert))
			theirs, theirProtocols, theirGroups := sslscanAccepted(t, addr)
			ours := acceptedSuites(r)
			if len(ours) == 0 || !slices.Equal(ours, theirs) {
				t.Errorf("accepted suites differ:\n intransit: %v\n   sslscan: %v", ours, theirs)
			}
			var ourProtocols []string
			for _, p := range r.Protocols {
				if p.Accepted {
					ourProtocols = append(ourProtocols, strings.Replace(p.Name, "SSL 3.0", "SSL 3", 1))
				}
			}
			if !slices.Equal(ourProtocols, theirProtocols) {
				t.Errorf("accepted protocols differ:\n intransit: %v\n   sslscan: %v", ourProtocols, theirProtocols)
			}
			var ourGroups []string
			for _, g := range r.Groups {
				if g.TLS13 {
					ourGroups = append(ourGroups, g.Code)
				}
			}
			slices.Sort(ourGroups)
			if !slices.Equal(ourGroups, theirGroups) {
				t.Errorf("TLS 1.3 groups differ:\n intransit: %v\n   sslscan: %v", ourGroups, theirGroups)
			}
		})
	}
}
