package testpeer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"intransit/tunnel"
)

// Operations of the control protocol.
const (
	OpInfo       = "info"        // the device: Response.Info
	OpPeers      = "peers"       // every peer: Response.Peers
	OpSetPeer    = "set-peer"    // create or update Request.Peer
	OpRemovePeer = "remove-peer" // remove the peer Request.PublicKey
)

// Request is one control request.
type Request struct {
	Op        string `json:"op"`
	Peer      *Peer  `json:"peer,omitempty"`
	PublicKey string `json:"public_key,omitempty"`
}

// Response answers a Request; Error is set when it failed.
type Response struct {
	Error string       `json:"error,omitempty"`
	Info  *Info        `json:"info,omitempty"`
	Peers []PeerStatus `json:"peers,omitempty"`
}

// Info describes the running device.
type Info struct {
	Interface  string `json:"interface"`
	PublicKey  string `json:"public_key"`
	ListenPort uint16 `json:"listen_port"`
	MTU        int    `json:"mtu"`
	Offloads   bool   `json:"offloads"`
	Transport  string `json:"transport"`
}

// PeerStatus is a peer's state as the device reports it.
type PeerStatus struct {
	PublicKey     string    `json:"public_key"`
	Endpoint      string    `json:"endpoint,omitempty"`
	AllowedIPs    []string  `json:"allowed_ips"`
	LastHandshake time.Time `json:"last_handshake"`
	RxBytes       uint64    `json:"rx_bytes"`
	TxBytes       uint64    `json:"tx_bytes"`
}

// Serve answers control requests on ln for dev until ctx ends. Each
// connection carries one request and one response and is bounded in time.
func Serve(ctx context.Context, ln net.Listener, dev *tunnel.Device, transport string, log *slog.Logger) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control socket: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			var req Request
			var resp Response
			if err := json.NewDecoder(c).Decode(&req); err != nil {
				resp.Error = fmt.Sprintf("bad request: %v", err)
			} else {
				resp = handle(dev, transport, req)
				if resp.Error != "" {
					log.Warn("control request failed", "op", req.Op, "error", resp.Error)
				}
			}
			if err := json.NewEncoder(c).Encode(&resp); err != nil {
				log.Warn("control response not sent", "error", err)
			}
		}()
	}
}

func handle(dev *tunnel.Device, transport string, req Request) Response {
	switch req.Op {
	case OpInfo:
		port, err := dev.ListenPort()
		if err != nil {
			return Response{Error: err.Error()}
		}
		return Response{Info: &Info{
			Interface: dev.Name(), PublicKey: dev.PublicKey().String(), ListenPort: port,
			MTU: dev.MTU(), Offloads: dev.Offloads(), Transport: transport,
		}}
	case OpPeers:
		peers, err := dev.Peers()
		if err != nil {
			return Response{Error: err.Error()}
		}
		out := make([]PeerStatus, 0, len(peers))
		for _, p := range peers {
			ps := PeerStatus{PublicKey: p.PublicKey.String(), Endpoint: p.Endpoint,
				LastHandshake: p.LastHandshake, RxBytes: p.RxBytes, TxBytes: p.TxBytes, AllowedIPs: []string{}}
			for _, a := range p.AllowedIPs {
				ps.AllowedIPs = append(ps.AllowedIPs, a.String())
			}
			out = append(out, ps)
		}
		return Response{Peers: out}
	case OpSetPeer:
		if req.Peer == nil {
			return Response{Error: "set-peer: no peer"}
		}
		pc, err := req.Peer.Tunnel()
		if err != nil {
			return Response{Error: fmt.Sprintf("set-peer: %v", err)}
		}
		if err := dev.SetPeer(pc); err != nil {
			return Response{Error: err.Error()}
		}
		return Response{}
	case OpRemovePeer:
		pub, err := tunnel.ParsePublicKey(req.PublicKey)
		if err != nil {
			return Response{Error: fmt.Sprintf("remove-peer: public_key: %v", err)}
		}
		if err := dev.RemovePeer(pub); err != nil {
			return Response{Error: err.Error()}
		}
		return Response{}
	default:
		return Response{Error: fmt.Sprintf("unknown op %q", req.Op)}
	}
}

// Call sends one request to the control socket at path and returns the
// response; a response with Error set becomes an error.
func Call(ctx context.Context, path string, req Request) (*Response, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("control %s: %w", req.Op, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(&req); err != nil {
		return nil, fmt.Errorf("control %s: sending: %w", req.Op, err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("control %s: reading response: %w", req.Op, err)
	}
	if resp.Error != "" {
		return &resp, fmt.Errorf("control %s: %w", req.Op, errors.New(resp.Error))
	}
	return &resp, nil
}
