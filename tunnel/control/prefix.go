package control

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ValidatePrefixes checks that every prefix is valid and canonical (no host
// bits set) and that no two overlap. what names the list in the error.
func ValidatePrefixes(what string, ps []netip.Prefix) error {
	for i, p := range ps {
		if !p.IsValid() {
			return fmt.Errorf("%s[%d]: invalid prefix", what, i)
		}
		if p.Addr().Is4In6() {
			return fmt.Errorf("%s[%d]: %s is an IPv4-mapped IPv6 prefix; write it as IPv4", what, i, p)
		}
		if p.Masked() != p {
			return fmt.Errorf("%s[%d]: %s has host bits set (did you mean %s?)", what, i, p, p.Masked())
		}
		for j := range i {
			if ps[j].Overlaps(p) {
				return fmt.Errorf("%s[%d]: %s overlaps %s[%d] %s", what, i, p, what, j, ps[j])
			}
		}
	}
	return nil
}

// Agreement is what one end routes toward its peer.
type Agreement struct {
	// Accepted are the prefixes routed into the tunnel toward the peer
	// (and the peer's WireGuard allowed IPs), sorted.
	Accepted []netip.Prefix
	// Refused lists the offered prefixes, or parts of them, that are not
	// routed, and why.
	Refused []RefusedPrefix
}

// RefusedPrefix is an offered prefix that is not routed, wholly or in part.
type RefusedPrefix struct {
	// Prefix is the prefix as offered.
	Prefix netip.Prefix
	// Why says what the local configuration objects to.
	Why string
}

// Agree applies the rule that a gateway never routes a prefix its own
// configuration does not allow the peer: what is accepted is the
// intersection of what the peer offers with what the local configuration
// allows for that peer, minus anything overlapping a local site prefix (a
// peer cannot capture local traffic). An offered prefix wider than an
// allowed one is narrowed to it.
//
// Each list must pass ValidatePrefixes; an invalid list is an error, not a
// refusal, because it means a broken configuration or a broken peer.
func Agree(offered, allowed, local []netip.Prefix) (Agreement, error) {
	for _, l := range []struct {
		what string
		ps   []netip.Prefix
	}{{"offered", offered}, {"allowed", allowed}, {"local", local}} {
		if err := ValidatePrefixes(l.what, l.ps); err != nil {
			return Agreement{}, err
		}
	}
	var ag Agreement
	for _, o := range offered {
		var parts []netip.Prefix
		for _, a := range allowed {
			switch {
			case a.Bits() <= o.Bits() && a.Contains(o.Addr()):
				parts = append(parts, o)
			case o.Bits() < a.Bits() && o.Contains(a.Addr()):
				parts = append(parts, a)
			}
		}
		if len(parts) == 0 {
			ag.Refused = append(ag.Refused, RefusedPrefix{Prefix: o, Why: "not allowed for this peer by the local configuration"})
			continue
		}
		var kept, clashes []netip.Prefix
		for _, p := range parts {
			clash := false
			for _, l := range local {
				if l.Overlaps(p) {
					clashes = append(clashes, l)
					clash = true
				}
			}
			if !clash {
				kept = append(kept, p)
			}
		}
		switch {
		case len(clashes) > 0:
			ag.Refused = append(ag.Refused, RefusedPrefix{Prefix: o, Why: "overlaps local site prefixes " + joinPrefixes(clashes)})
		case len(kept) != 1 || kept[0] != o:
			ag.Refused = append(ag.Refused, RefusedPrefix{Prefix: o, Why: "only partly allowed; narrowed to " + joinPrefixes(kept)})
		}
		ag.Accepted = append(ag.Accepted, kept...)
	}
	slices.SortFunc(ag.Accepted, comparePrefix)
	return ag, nil
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
