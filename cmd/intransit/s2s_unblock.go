package main

import (
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"intransit/internal/daemonconfig"
	"intransit/internal/output"
	"intransit/tunnel/failclosed"
)

// unblockResult is what s2s unblock reports.
type unblockResult struct {
	Interface string `json:"interface"`
	Table     string `json:"table"`
	Lifted    bool   `json:"lifted"`
}

// newS2SUnblockCommand builds `intransit s2s unblock`, which lifts the
// fail-closed block a stopped intransitd left, through k.
func newS2SUnblockCommand(k failclosed.Kernel) *cobra.Command {
	iface := daemonconfig.DefaultInterface
	format := output.Table
	cmd := &cobra.Command{
		Use:   "unblock",
		Short: "Lift the fail-closed block a stopped intransitd left on its interface",
		Long: `intransitd keeps a table in nftables (inet intransit_guard_<interface>) that
lets the remote sites' prefixes leave only through its tunnel, and leaves it
in place when it stops or dies, so that site traffic is never sent in clear.
When a gateway is taken out of service for good, lift the block with this
command. While intransitd runs on the interface it refuses: remove the
remote from the configuration and reload instead.

Exit codes: 0 lifted (or there was none), 1 refused (intransitd runs on the
interface), 2 could not run (nft failed, not root).`,
		Example: `  intransit s2s unblock --interface it0`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res := unblockResult{Interface: iface, Table: "inet " + failclosed.TableName(iface)}
			if _, err := net.InterfaceByName(iface); err == nil {
				return refusalf("interface %s exists: intransitd runs on it; remove the remote from its configuration and reload instead", iface)
			}
			lifted, err := failclosed.Lift(cmd.Context(), k, iface)
			if err != nil {
				return err
			}
			res.Lifted = lifted
			w := cmd.OutOrStdout()
			if format == output.JSON {
				return output.WriteJSON(w, res)
			}
			if lifted {
				fmt.Fprintf(w, "fail-closed block of %s lifted (table %s removed)\n", iface, res.Table)
			} else {
				fmt.Fprintf(w, "no fail-closed block of %s (no table %s)\n", iface, res.Table)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&iface, "interface", iface, "TUN interface of the stopped intransitd")
	cmd.Flags().Var(&format, "output", "table or json")
	return cmd
}
