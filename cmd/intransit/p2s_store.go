package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"intransit/internal/daemonconfig"
	"intransit/internal/statestore"
	"intransit/p2s/enroll"
	"intransit/pki"
)

// openSharedStores opens the stores that the store section of file names,
// for the p2s commands run on any host that reaches them: only a shared
// backend (etcd) is accepted, since a bolt file belongs to the daemon that
// holds it (its admin socket serves these commands there).
func openSharedStores(ctx context.Context, file string) (*statestore.Stores, error) {
	if file == "" {
		return nil, refusalf("--store-config is required: the file with the store section naming etcd")
	}
	cfg, err := daemonconfig.LoadStore(file)
	if err != nil {
		return nil, err
	}
	if cfg.Backend != daemonconfig.StoreEtcd {
		return nil, refusalf("%s: the store is %s, held by one daemon: use its admin socket (--socket) instead of --store-config", file, cfg.Backend)
	}
	return statestore.Open(ctx, cfg, "", 0, nil)
}

// inviteInStore creates a one-time token directly in the shared store:
// every gateway on it redeems it (once, whichever comes first). The PKI
// directory gives the root the token pins; no master key is needed. The
// group is not checked against the gateways' configuration, which this
// host does not know: a gateway refuses a client of a group it does not
// serve when it connects.
func inviteInStore(ctx context.Context, file, pkiDir string, req enroll.InviteRequest) (*enroll.Invitation, error) {
	st, err := openSharedStores(ctx, file)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ca, err := pki.OpenPublic(ctx, pkiDir, pki.OpenOptions{Store: st.PKI})
	if err != nil {
		return nil, fmt.Errorf("pki %s: %w", pkiDir, err)
	}
	defer ca.Close()
	srv := &enroll.Server{Store: st.P2S, Authority: enroll.NewCAAuthority(ca, 0, 0), Groups: []string{req.Group}}
	text, tok, err := srv.Invite(ctx, req.Name, req.Group, req.TTL)
	if err != nil {
		return nil, refusal(err)
	}
	return &enroll.Invitation{Token: text, Name: tok.Name, Group: tok.Group, Expires: tok.Expires}, nil
}

// addStoreConfigFlag adds --store-config.
func addStoreConfigFlag(cmd *cobra.Command, storeFile *string) {
	cmd.Flags().StringVar(storeFile, "store-config", "", "file with a store section naming etcd: work on the shared store directly, from any host that reaches it")
}

// addPKIDirFlag adds --pki-dir, the PKI directory whose public files a
// command reads.
func addPKIDirFlag(cmd *cobra.Command, pkiDir *string) {
	def := os.Getenv(envPKIDir)
	if def == "" {
		def = "pki"
	}
	cmd.Flags().StringVar(pkiDir, "pki-dir", def, "PKI directory (public files) with --store-config ($INTRANSIT_PKI_DIR sets the default)")
}
