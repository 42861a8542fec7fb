// Package status is the daemon's local status socket: a unix socket, in a
// directory only root can enter and with mode 0600 itself, on which the
// daemon answers each connection with one JSON Report, and the client that
// `intransit status` uses to read it.
package status

import (
	"time"
)

// Report is what the daemon reports about itself and its peers.
type Report struct {
	// Time is when the report was made.
	Time time.Time `json:"time"`
	// Gateway describes the local gateway.
	Gateway Gateway `json:"gateway"`
	// Peers are the configured remote gateways, sorted by name.
	Peers []Peer `json:"peers"`
	// Refusals are the most recent refused connections, newest last.
	Refusals []Refusal `json:"refusals"`
	// Blocks are the fail-closed blocks in force, one per remote.
	Blocks []Block `json:"blocks,omitempty"`
	// P2S is the point-to-site gateway, when one runs.
	P2S *P2S `json:"p2s,omitempty"`
	// Certificates are the certificates the daemon depends on (its own,
	// the CA's it holds) with their expiry and renewal (see cert.go).
	Certificates []Certificate `json:"certificates,omitempty"`
	// CRLPublisher is the elected CRL publisher of a fleet on etcd, on a
	// gateway that holds the CA; nil on the others.
	CRLPublisher *CRLPublisher `json:"crl_publisher,omitempty"`
}

// Gateway describes the local gateway.
type Gateway struct {
	// Identity is the gateway's certificate identity (URI SAN first).
	Identity string `json:"identity"`
	// CertExpiry is when the gateway's certificate expires.
	CertExpiry time.Time `json:"cert_expiry"`
	// PublicKey is the WireGuard public key (base64).
	PublicKey string `json:"public_key"`
	// Interface is the TUN interface name and MTU.
	Interface string `json:"interface"`
	MTU       int    `json:"mtu"`
	// Transports are the served data-plane transports with their ports.
	Transports []string `json:"transports"`
	// Control is the control-channel listen address.
	Control string `json:"control"`
	// SitePrefixes are the local site prefixes.
	SitePrefixes []string `json:"site_prefixes"`
	// ConfigPath is the configuration file and ConfigLoaded when it was
	// last applied.
	ConfigPath   string    `json:"config_path"`
	ConfigLoaded time.Time `json:"config_loaded"`
	// LastReload is how the last reload (SIGHUP) went; zero before the
	// first one.
	LastReload Reload `json:"last_reload"`
}

// Reload is the outcome of a configuration reload.
type Reload struct {
	// At is when the reload was asked for (zero: no reload yet).
	At time.Time `json:"at"`
	// Refused is the reason the new configuration was refused and nothing
	// changed; empty when it was applied.
	Refused string `json:"refused,omitempty"`
}

// Peer states.
const (
	StateConnecting = "connecting" // dialing or waiting for the remote
	StateUp         = "up"         // control session running, peer installed
	StateRefused    = "refused"    // the last attempt was refused (see Reason)
	StateDown       = "down"       // the last session ended (see Reason)
	StateDegraded   = "degraded"   // session up, but the data plane does not answer (Reason data_plane)
)

// Peer is one remote gateway.
type Peer struct {
	// Name and Identity are the remote's configured name and identity.
	Name     string `json:"name"`
	Identity string `json:"identity"`
	// State is one of the State constants.
	State string `json:"state"`
	// Reason is the stable reason of the last refusal or session end,
	// and Detail what exactly happened; empty while up.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Since is when State last changed.
	Since time.Time `json:"since"`
	// Role is "initiator" or "responder" in the current session.
	Role string `json:"role,omitempty"`
	// PublicKey is the remote's WireGuard key (base64).
	PublicKey string `json:"public_key,omitempty"`
	// Transport is the data-plane transport in use and Endpoint where.
	Transport string `json:"transport,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
	// Routes are the agreed remote prefixes routed into the tunnel.
	Routes []string `json:"routes,omitempty"`
	// LastHandshake is the last completed WireGuard handshake.
	LastHandshake time.Time `json:"last_handshake"`
	// RxBytes and TxBytes count the peer's WireGuard traffic.
	RxBytes uint64 `json:"rx_bytes"`
	TxBytes uint64 `json:"tx_bytes"`
	// PSKEpoch, PSKID and PSKInstalled describe the post-quantum PSK in
	// place (its fingerprint, never the key).
	PSKEpoch     uint64    `json:"psk_epoch"`
	PSKID        string    `json:"psk_id,omitempty"`
	PSKInstalled time.Time `json:"psk_installed"`
	// CertExpiry is when the remote's certificate expires.
	CertExpiry time.Time `json:"cert_expiry"`
	// Sessions counts the control sessions established with the remote.
	Sessions uint64 `json:"sessions"`
}

// Refusal is a refused connection.
type Refusal struct {
	// Time is when it was refused.
	Time time.Time `json:"time"`
	// Remote is the connection's remote address.
	Remote string `json:"remote"`
	// Identity is the peer's certificate identity, when it got that far.
	Identity string `json:"identity,omitempty"`
	// Reason is the stable code and Detail the explanation.
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}
