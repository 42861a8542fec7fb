package tunnel

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// PeerStatus is what the device reports about one peer.
type PeerStatus struct {
	// PublicKey identifies the peer.
	PublicKey PublicKey
	// HasPresharedKey tells whether a preshared key is set (never the key).
	HasPresharedKey bool
	// Endpoint is the peer's current endpoint in the Bind's syntax; it
	// follows the peer when it roams. Empty until known.
	Endpoint string
	// AllowedIPs are the prefixes routed to the peer.
	AllowedIPs []netip.Prefix
	// PersistentKeepalive is the keepalive interval, 0 when off.
	PersistentKeepalive time.Duration
	// LastHandshake is the time of the last completed handshake; the zero
	// time when there was none.
	LastHandshake time.Time
	// RxBytes and TxBytes count the bytes received from and sent to the
	// peer, WireGuard overhead included.
	RxBytes, TxBytes uint64
}

// peerSetOperation renders p in wireguard-go's configuration protocol. With
// updateOnly the operation fails to create the peer (wireguard-go ignores
// the lines if the peer does not exist). Every field is set, so the result
// is p's whole state: allowed IPs are replaced, a nil preshared key clears it.
func peerSetOperation(p PeerConfig, updateOnly bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "public_key=%s\n", hexKey(p.PublicKey))
	if updateOnly {
		b.WriteString("update_only=true\n")
	}
	var psk [KeySize]byte
	if p.PresharedKey != nil {
		psk = *p.PresharedKey
	}
	fmt.Fprintf(&b, "preshared_key=%s\n", hexKey(psk))
	if p.Endpoint != "" {
		fmt.Fprintf(&b, "endpoint=%s\n", p.Endpoint)
	}
	fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", int(p.PersistentKeepalive/time.Second))
	b.WriteString("replace_allowed_ips=true\n")
	for _, a := range p.AllowedIPs {
		fmt.Fprintf(&b, "allowed_ip=%s\n", a.Masked())
	}
	// The peer's probe address, so that probes reach it and its answers
	// are accepted (see probe.go).
	fmt.Fprintf(&b, "allowed_ip=%s/128\n", ProbeAddr(p.PublicKey))
	return b.String()
}

// parsePeers reads the peers from the output of wireguard-go's "get"
// operation. Secret lines (private and preshared keys) are not kept.
func parsePeers(get string) ([]PeerStatus, error) {
	var peers []PeerStatus
	var cur *PeerStatus
	var hsSec, hsNsec int64
	finish := func() {
		if cur == nil {
			return
		}
		if hsSec != 0 || hsNsec != 0 {
			cur.LastHandshake = time.Unix(hsSec, hsNsec)
		}
		peers = append(peers, *cur)
	}
	sc := bufio.NewScanner(strings.NewReader(get))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("device status line %d: no '='", n)
		}
		if key == "public_key" {
			finish()
			b, err := hex.DecodeString(value)
			if err != nil || len(b) != KeySize {
				return nil, fmt.Errorf("device status line %d: bad public key", n)
			}
			cur, hsSec, hsNsec = &PeerStatus{PublicKey: PublicKey(b)}, 0, 0
			continue
		}
		if cur == nil {
			continue // device lines: private_key, listen_port, fwmark
		}
		var err error
		switch key {
		case "preshared_key":
			cur.HasPresharedKey = strings.Trim(value, "0") != ""
		case "endpoint":
			cur.Endpoint = value
		case "allowed_ip":
			var p netip.Prefix
			p, err = netip.ParsePrefix(value)
			if !isProbePrefix(p) {
				cur.AllowedIPs = append(cur.AllowedIPs, p)
			}
		case "persistent_keepalive_interval":
			var s uint64
			s, err = strconv.ParseUint(value, 10, 16)
			cur.PersistentKeepalive = time.Duration(s) * time.Second
		case "last_handshake_time_sec":
			hsSec, err = strconv.ParseInt(value, 10, 64)
		case "last_handshake_time_nsec":
			hsNsec, err = strconv.ParseInt(value, 10, 64)
		case "rx_bytes":
			cur.RxBytes, err = strconv.ParseUint(value, 10, 64)
		case "tx_bytes":
			cur.TxBytes, err = strconv.ParseUint(value, 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("device status line %d (%s): %w", n, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading device status: %w", err)
	}
	finish()
	return peers, nil
}
