package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"intransit/internal/output"
	"intransit/p2s"
	"intransit/pki"
	"intransit/pki/store"
)

// enrolledView is one enrolled client as `p2s list` shows it.
type enrolledView struct {
	Name      string       `json:"name"`
	Group     string       `json:"group"`
	Enrolled  time.Time    `json:"enrolled"`
	Serials   []string     `json:"serials"`
	Addresses []netip.Addr `json:"addresses,omitempty"`
	// LeaseUpdated is when the lease was granted or its client last seen.
	LeaseUpdated time.Time `json:"lease_updated,omitzero"`
}

func newP2SListCommand() *cobra.Command {
	var storeFile string
	format := output.Table
	cmd := &cobra.Command{
		Use:   "list --store-config FILE",
		Short: "List the enrolled laptops and their address leases, from the shared store",
		Long: `List every enrolled laptop of the gateways that share an etcd store: name,
group, enrollment time, certificate serials and the addresses leased to it
(by any gateway). Runs on any host that reaches the cluster with a client
certificate (the store section of --store-config); no daemon, no file lock.
"p2s clients" shows the laptops connected to one gateway instead.`,
		Example: `  intransit p2s list --store-config /etc/intransit/store.yaml --output json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openSharedStores(cmd.Context(), storeFile)
			if err != nil {
				return err
			}
			defer st.Close()
			clients, err := st.P2S.ListClients(cmd.Context())
			if err != nil {
				return err
			}
			leases, err := st.P2S.Leases(cmd.Context())
			if err != nil {
				return err
			}
			byName := make(map[string]p2s.Lease, len(leases))
			for _, l := range leases {
				byName[l.Client] = l
			}
			views := make([]enrolledView, 0, len(clients))
			for _, c := range clients {
				v := enrolledView{Name: c.Name, Group: c.Group, Enrolled: c.Enrolled, Serials: c.Serials}
				if l, ok := byName[c.Name]; ok {
					v.Addresses, v.LeaseUpdated = l.Addresses, l.Updated
				}
				views = append(views, v)
			}
			w := cmd.OutOrStdout()
			if format == output.JSON {
				return output.WriteJSON(w, views)
			}
			rows := make([][]string, 0, len(views))
			for _, v := range views {
				addrs := make([]string, len(v.Addresses))
				for i, a := range v.Addresses {
					addrs[i] = a.String()
				}
				rows = append(rows, []string{v.Name, v.Group, v.Enrolled.Format(time.RFC3339), strings.Join(addrs, " "), strings.Join(v.Serials, " ")})
			}
			return output.WriteTable(w, []string{"CLIENT", "GROUP", "ENROLLED", "ADDRESSES", "SERIALS"}, rows)
		},
	}
	addStoreConfigFlag(cmd, &storeFile)
	cmd.Flags().Var(&format, "output", "table or json")
	return cmd
}

func newP2SRevokeCommand() *cobra.Command {
	var storeFile, reason string
	cmd := &cobra.Command{
		Use:   "revoke NAME --store-config FILE",
		Short: "Revoke an enrolled laptop's certificates in the shared store: every gateway cuts it",
		Long: `Revoke every valid certificate issued to the enrolled laptop NAME, in the
PKI records of the etcd store that the gateways share. Each gateway follows
the store's revocation feed and cuts the laptop within seconds; the elected
gateway signs and publishes the new CRL. Runs on any host that reaches the
cluster with a client certificate; no master key, no daemon, no file lock.
Exit 1 when NAME never enrolled or has no valid certificate left.
Reasons: ` + strings.Join(store.ReasonNames(), ", ") + `.`,
		Example: `  intransit p2s revoke alice-laptop --store-config /etc/intransit/store.yaml --reason keyCompromise`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := store.ParseReason(reason)
			if err != nil {
				return refusal(err)
			}
			st, err := openSharedStores(cmd.Context(), storeFile)
			if err != nil {
				return err
			}
			defer st.Close()
			c, err := st.P2S.Client(cmd.Context(), args[0])
			if errors.Is(err, p2s.ErrNotFound) {
				return refusalf("no laptop named %q enrolled", args[0])
			}
			if err != nil {
				return err
			}
			revoked := 0
			for _, s := range c.Serials {
				sn, err := pki.ParseSerial(s)
				if err != nil {
					return fmt.Errorf("client %s: serial %q: %w", c.Name, s, err)
				}
				rec, err := st.PKI.Revoke(cmd.Context(), sn, time.Now().UTC().Truncate(time.Second), r)
				if errors.Is(err, store.ErrAlreadyRevoked) || errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return fmt.Errorf("revoke %s of %s: %w", s, c.Name, err)
				}
				revoked++
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s) at %s: %s; revocation revision %d\n",
					pki.FormatSerial(rec.Serial), rec.Name, rec.RevokedAt.Format(time.RFC3339), rec.Reason, rec.Revision)
			}
			if revoked == 0 {
				return refusalf("%s has no valid certificate left to revoke (serials %s)", c.Name, strings.Join(c.Serials, ", "))
			}
			return nil
		},
	}
	addStoreConfigFlag(cmd, &storeFile)
	cmd.Flags().StringVar(&reason, "reason", string(store.ReasonUnspecified), "revocation reason")
	return cmd
}
