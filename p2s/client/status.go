package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"intransit/internal/status"
)

// StatusSocket is the client's status socket in the profile directory.
const StatusSocket = "status.sock"

// Client states.
const (
	StateConnecting   = "connecting"
	StateConnected    = "connected"
	StateDegraded     = "degraded" // connected, but the data plane does not answer (see Detail)
	StateDisconnected = "disconnected"
)

// ReasonDataPlane is the Reason of StateDegraded.
const ReasonDataPlane = "data_plane"

// Status is what a running client reports.
type Status struct {
	// Profile, Name and Group say who the client is; Gateway is the
	// gateway's host and GatewayIdentity its certificate identity.
	Profile         string `json:"profile"`
	Name            string `json:"name"`
	Group           string `json:"group"`
	Gateway         string `json:"gateway"`
	GatewayIdentity string `json:"gateway_identity,omitempty"`
	// State is a State constant; Reason and Detail say why it is not
	// connected; Since is when State last changed.
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Since  time.Time `json:"since"`
	// Addresses, Routes, DNSServers and SearchDomains are what the
	// gateway assigned.
	Addresses     []string `json:"addresses,omitempty"`
	Routes        []string `json:"routes,omitempty"`
	DNSServers    []string `json:"dns_servers,omitempty"`
	SearchDomains []string `json:"search_domains,omitempty"`
	// Transport is the data-plane transport in use (empty while none
	// works) and Endpoint the gateway endpoint tried or in use.
	Transport string `json:"transport,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
	// LastHandshake, RxBytes and TxBytes describe the WireGuard peer.
	LastHandshake time.Time `json:"last_handshake"`
	RxBytes       uint64    `json:"rx_bytes"`
	TxBytes       uint64    `json:"tx_bytes"`
	// PSKEpoch and PSKInstalled describe the post-quantum PSK in place.
	PSKEpoch     uint64    `json:"psk_epoch"`
	PSKInstalled time.Time `json:"psk_installed"`
	// CertExpiry is when the client certificate expires, Sessions how
	// many control sessions were established, PID the client's process.
	CertExpiry time.Time `json:"cert_expiry"`
	Sessions   uint64    `json:"sessions"`
	PID        int       `json:"pid"`
	// Blocks are the fail-closed blocks in force: the split tunnel's
	// prefixes and the lockdown.
	Blocks []status.Block `json:"blocks,omitempty"`
}

// Status returns a snapshot of the client.
func (c *Client) Status() Status {
	c.mu.Lock()
	st := c.st
	st.CertExpiry = c.mat.Load().Leaf.NotAfter
	if c.sess != nil {
		ss := c.sess.Status()
		if ss.Epoch > 0 {
			st.PSKEpoch, st.PSKInstalled = ss.Epoch, ss.PSKInstalled
		}
	}
	if c.watch != nil && c.dev != nil && st.State == StateConnected {
		h := c.watch.Health()
		st.Endpoint = c.watch.Current()
		if h.Up {
			st.Transport = h.Transport
		} else {
			st.State, st.Reason, st.Detail, st.Transport = StateDegraded, ReasonDataPlane, h.Reason, ""
		}
		if ps, err := c.dev.Peer(c.pc.PublicKey); err == nil {
			st.LastHandshake, st.RxBytes, st.TxBytes = ps.LastHandshake, ps.RxBytes, ps.TxBytes
		}
	}
	c.mu.Unlock()
	st.PID = os.Getpid()
	why := st.State
	if st.Reason != "" {
		why += ": " + st.Reason
	}
	// Read outside the lock: it asks the kernel.
	st.Blocks = c.guard.blocks(st.State == StateConnected && st.Transport != "", why)
	return st
}

// ListenStatus opens the profile's status socket (mode 0600; the profile
// directory is 0700), replacing a stale one.
func (c *Client) ListenStatus() (net.Listener, error) {
	path := filepath.Join(c.opts.Dir, StatusSocket)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return ln, nil
}

// ServeStatus answers every connection on ln (from ListenStatus) with one
// JSON Status until ctx ends, then closes ln and removes the socket.
func (c *Client) ServeStatus(ctx context.Context, ln net.Listener) error {
	path := filepath.Join(c.opts.Dir, StatusSocket)
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer os.Remove(path)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("status socket: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			if err := json.NewEncoder(conn).Encode(c.Status()); err != nil {
				c.log.Debug("status socket write", "error", err.Error())
			}
		}()
	}
}

// GetStatus reads the status of the client running with the profile in
// dir.
func GetStatus(ctx context.Context, dir string) (*Status, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(dir, StatusSocket))
	if err != nil {
		return nil, fmt.Errorf("no client running for %s: %w", dir, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	data, err := io.ReadAll(io.LimitReader(conn, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	var st Status
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return &st, nil
}
