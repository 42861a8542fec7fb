package main

import (
	"context"

	"intransit/internal/daemonconfig"
	"intransit/internal/statestore"
	"intransit/pki/store"
)

// openStore opens the PKI record store named by the store section of file
// (--store-config); nil when file is empty or names bolt, so that the PKI
// uses the pki.db of its directory.
func openStore(ctx context.Context, file string) (store.Store, error) {
	if file == "" {
		return nil, nil
	}
	cfg, err := daemonconfig.LoadStore(file)
	if err != nil {
		return nil, err
	}
	return statestore.OpenPKI(ctx, cfg, nil)
}
