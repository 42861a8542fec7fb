package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"

	"intransit/internal/daemonconfig"
	"intransit/internal/statestore"
	"intransit/p2s"
	"intransit/p2s/announce"
)

// p2sFailover is what a gateway that shares its clients with others runs
// beside the p2s gateway: its claims in the store and its announcements on
// the site LAN. Both are nil when not configured.
type p2sFailover struct {
	holders   p2s.Holders
	announcer announce.Announcer
}

// openFailover starts the claims (with an etcd store) and the announcements
// (with p2s.announce) of this gateway.
func openFailover(pc *daemonconfig.P2S, stores *statestore.Stores, log *slog.Logger) (*p2sFailover, error) {
	f := &p2sFailover{}
	host, _ := os.Hostname()
	nonce := make([]byte, 6)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	// Unique to this process: a restarted gateway makes claims of its own.
	id := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(nonce))
	h, err := stores.Holders(id, log)
	if err != nil {
		return nil, fmt.Errorf("p2s: %w", err)
	}
	f.holders = h
	if pc.Announce != "" {
		a, err := announce.Open(pc.Announce, log)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("p2s.announce: %w", err)
		}
		f.announcer = a
	}
	if h != nil {
		log.Info("p2s sessions claimed in the shared store", "gateway_id", id, "announce", pc.Announce)
	}
	return f, nil
}

// close withdraws every announcement and gives up every claim; call it
// after the gateway closed.
func (f *p2sFailover) close() {
	if f == nil {
		return
	}
	if f.announcer != nil {
		f.announcer.Close()
	}
	if f.holders != nil {
		f.holders.Close()
	}
}
