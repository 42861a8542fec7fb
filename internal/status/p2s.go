package status

import "time"

// P2S is the point-to-site part of a gateway's report.
type P2S struct {
	// Interface is the point-to-site TUN interface and PublicKey its
	// WireGuard key.
	Interface string `json:"interface"`
	PublicKey string `json:"public_key"`
	// Control is the control-channel listen address and Transports the
	// served data-plane transports with their ports.
	Control    string   `json:"control"`
	Transports []string `json:"transports"`
	// Pools are the address pools, PoolSize how many clients they serve
	// and Leases how many addresses are leased.
	Pools    []string `json:"pools"`
	PoolSize uint64   `json:"pool_size"`
	Leases   int      `json:"leases"`
	// Clients are the connected clients, sorted by name.
	Clients []P2SClient `json:"clients"`
	// Statics are the devices with static wg-quick profiles, sorted by
	// name.
	Statics []P2SClient `json:"statics,omitempty"`
	// Refusals are the most recent refused clients, newest last.
	Refusals []Refusal `json:"refusals"`
	// Store is the shared store's reachability; nil on a store of this
	// host alone (bolt).
	Store *StoreHealth `json:"store,omitempty"`
}

// StoreHealth is whether the gateway reaches its shared store. While it
// does not, new clients and enrollments are refused (no lease can be
// recorded) and connected clients keep their tunnels.
type StoreHealth struct {
	// Backend is the store ("etcd").
	Backend string `json:"backend"`
	// Reachable is the state, Since when it began, Error why the store is
	// unreachable.
	Reachable bool      `json:"reachable"`
	Since     time.Time `json:"since,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// P2SClient is one connected point-to-site client.
type P2SClient struct {
	// Name, Identity and Group say who the client is.
	Name     string `json:"name"`
	Identity string `json:"identity"`
	Group    string `json:"group"`
	// Addresses are its tunnel addresses and Routes what it was pushed.
	Addresses []string `json:"addresses"`
	Routes    []string `json:"routes"`
	// Transport is the data-plane transport in use and Endpoint where.
	Transport string `json:"transport,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
	// PublicKey is the client's WireGuard key.
	PublicKey string `json:"public_key"`
	// Since is when the current session started.
	Since time.Time `json:"since"`
	// LastHandshake, RxBytes and TxBytes describe the WireGuard peer.
	LastHandshake time.Time `json:"last_handshake"`
	RxBytes       uint64    `json:"rx_bytes"`
	TxBytes       uint64    `json:"tx_bytes"`
	// PSKEpoch and PSKID describe the post-quantum PSK in place.
	PSKEpoch uint64 `json:"psk_epoch"`
	PSKID    string `json:"psk_id,omitempty"`
	// CertExpiry is when the client's certificate expires (zero for a
	// static device, which has none).
	CertExpiry time.Time `json:"cert_expiry"`
	// Static marks a device with a static wg-quick profile.
	Static bool `json:"static,omitempty"`
}
