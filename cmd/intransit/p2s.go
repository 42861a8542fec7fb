package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"intransit/internal/daemonconfig"
	"intransit/internal/output"
	"intransit/internal/status"
	"intransit/p2s/enroll"
)

// newP2SCommand builds the `intransit p2s` group: point-to-site, on the
// gateway (invite, clients) and on the laptop (enroll, connect, status,
// disconnect).
func newP2SCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "p2s",
		Short: "Point-to-site: invite and list laptops on the gateway; enroll, connect and disconnect on the laptop",
		Long: `Point-to-site VPN on the intransit PKI.

On the gateway (intransitd with a p2s section):
  intransit p2s invite NAME [--group G] [--expires 24h]   print a one-time token
  intransit p2s clients                                   connected laptops
  intransit p2s export NAME --format wg-quick [--qr F]    static profile for stock WireGuard
  intransit p2s remove NAME                               revoke a static profile
  intransit p2s forget NAME                               remove an enrolled laptop, free its address

On the laptop:
  intransit p2s enroll https://GATEWAY:PORT --token T     key, CSR, certificate, pinned CA
  intransit p2s connect [--profile NAME]                  stay connected (foreground)
  intransit p2s status [--profile NAME]                   what the running client does
  intransit p2s disconnect [--profile NAME]               stop it; routes and DNS restored`,
	}
	cmd.AddCommand(newP2SInviteCommand(), newP2SClientsCommand(), newP2SEnrollCommand(), newP2SConnectCommand(),
		newP2SStatusCommand(), newP2SDisconnectCommand(), newP2SExportCommand(), newP2SRemoveCommand(), newP2SForgetCommand(),
		newP2SListCommand(), newP2SRevokeCommand())
	return cmd
}

func newP2SInviteCommand() *cobra.Command {
	var group, socket, storeFile, pkiDir string
	var expires time.Duration
	format := output.Table
	cmd := &cobra.Command{
		Use:   "invite NAME",
		Short: "Create a one-time enrollment token for a laptop (asks the running intransitd)",
		Long: `Ask the running intransitd, over its root-only p2s admin socket, for a
one-time token that lets one laptop enroll as NAME in a group. The token is
printed once and stored on the gateway only as a hash; it expires after
--expires and works once. It also pins the CA, so the laptop trusts the
right gateway from its first connection.

With --store-config naming an etcd store that gateways share, the token is
written there directly from any host that reaches the cluster (no daemon, no
file lock; --pki-dir gives the CA root it pins) and any of the gateways
redeems it, once.`,
		Example: `  intransit p2s invite alice-laptop --group staff --expires 24h`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := enroll.InviteRequest{Name: args[0], Group: group, TTL: expires}
			var inv *enroll.Invitation
			var err error
			if storeFile != "" {
				inv, err = inviteInStore(cmd.Context(), storeFile, pkiDir, req)
			} else {
				inv, err = enroll.RequestInvite(cmd.Context(), socket, req)
			}
			var ref *enroll.Refusal
			if errors.As(err, &ref) {
				return refusal(err)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == output.JSON {
				return output.WriteJSON(w, inv)
			}
			fmt.Fprintf(w, "%s\n", inv.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "one-time token for %s (group %s), valid until %s\n", inv.Name, inv.Group, inv.Expires.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&group, "group", "default", "the client's policy group")
	cmd.Flags().DurationVar(&expires, "expires", enroll.DefaultTokenTTL, "how long the token stays valid")
	cmd.Flags().StringVar(&socket, "socket", daemonconfig.DefaultP2SAdminSocket, "p2s admin socket of intransitd")
	addStoreConfigFlag(cmd, &storeFile)
	addPKIDirFlag(cmd, &pkiDir)
	cmd.Flags().Var(&format, "output", "table or json")
	return cmd
}

func newP2SClientsCommand() *cobra.Command {
	var socket string
	format := output.Table
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "List the laptops connected to this gateway: address, transport, handshake, bytes, PSK",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := status.Get(cmd.Context(), socket)
			if err != nil {
				return err
			}
			if rep.P2S == nil {
				return refusalf("intransitd at %s serves no point-to-site clients (no p2s section)", socket)
			}
			w := cmd.OutOrStdout()
			if format == output.JSON {
				return output.WriteJSON(w, rep.P2S)
			}
			return writeP2SClients(w, rep.P2S)
		},
	}
	cmd.Flags().StringVar(&socket, "socket", daemonconfig.DefaultStatusSocket, "status socket of intransitd")
	cmd.Flags().Var(&format, "output", "table or json")
	return cmd
}

func writeP2SClients(w io.Writer, p *status.P2S) error {
	fmt.Fprintf(w, "p2s       %s key %s, control %s, transports %s\n", p.Interface, p.PublicKey, p.Control, strings.Join(p.Transports, " "))
	fmt.Fprintf(w, "pools     %s (%d of %d leased)\n", strings.Join(p.Pools, " "), p.Leases, p.PoolSize)
	if s := p.Store; s != nil && !s.Reachable {
		fmt.Fprintf(w, "store     %s UNREACHABLE since %s: new clients and enrollments refused (%s)\n", s.Backend, s.Since.Format(time.RFC3339), s.Error)
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(p.Clients)+len(p.Statics))
	for _, c := range append(slices.Clone(p.Clients), p.Statics...) {
		hs := "never"
		if !c.LastHandshake.IsZero() {
			hs = time.Since(c.LastHandshake).Round(time.Second).String() + " ago"
		}
		psk, until := fmt.Sprint(c.PSKEpoch), c.CertExpiry.Format("2006-01-02")
		if c.Static {
			psk, until = "static", "-"
		}
		rows = append(rows, []string{c.Name, c.Group, strings.Join(c.Addresses, " "), c.Transport, c.Endpoint, hs,
			fmt.Sprintf("%d/%d", c.RxBytes, c.TxBytes), psk, until})
	}
	if err := output.WriteTable(w, []string{"CLIENT", "GROUP", "ADDRESSES", "TRANSPORT", "ENDPOINT", "HANDSHAKE", "RX/TX", "PSK", "CERT UNTIL"}, rows); err != nil {
		return err
	}
	if len(p.Refusals) > 0 {
		fmt.Fprintln(w)
		rr := make([][]string, 0, len(p.Refusals))
		for _, r := range p.Refusals {
			rr = append(rr, []string{r.Time.Format(time.RFC3339), r.Remote, r.Identity, r.Reason, r.Detail})
		}
		return output.WriteTable(w, []string{"REFUSED", "FROM", "IDENTITY", "REASON", "DETAIL"}, rr)
	}
	return nil
}
