package main

import (
	"errors"
	"fmt"

	"github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"

	"intransit/internal/atomicfile"
	"intransit/internal/daemonconfig"
	"intransit/p2s/enroll"
	"intransit/p2s/gateway"
)

func newP2SExportCommand() *cobra.Command {
	var group, socket, endpoint, format, out, qr string
	cmd := &cobra.Command{
		Use:   "export NAME --format wg-quick",
		Short: "Export a static WireGuard profile (UDP only, fixed PSK, revoked by removal) for a device without intransit",
		Long: `Ask the running intransitd for a static profile for a device that cannot
run intransit (a phone with the stock WireGuard app, a router): a new key
pair and PSK, an address from the pool, the group's routes and DNS. The
gateway keeps only the public key; the profile, with the device's private
key, is printed (or written to --out, mode 0600) once.

Its limits, also written at the top of the file: UDP only (no QUIC or TLS
fallback), no post-quantum PSK rotation, no certificate, so it is revoked
only by removing it: intransit p2s remove NAME.`,
		Example: `  intransit p2s export phone --format wg-quick --out phone.conf --qr phone.png`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "wg-quick" {
				return fmt.Errorf("--format %q: the only format is wg-quick", format)
			}
			exp, err := gateway.RequestExport(cmd.Context(), socket, gateway.ExportRequest{Name: args[0], Group: group, Endpoint: endpoint})
			var ref *enroll.Refusal
			if errors.As(err, &ref) {
				return refusal(err)
			}
			if err != nil {
				return err
			}
			if qr != "" {
				png, err := qrcode.Encode(exp.WGQuick, qrcode.Medium, 768)
				if err != nil {
					return fmt.Errorf("QR code: %w", err)
				}
				if err := atomicfile.Write(qr, png, 0o600); err != nil {
					return fmt.Errorf("QR code: %w", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "QR code (holds the private key) written to %s\n", qr)
			}
			if out != "" {
				if err := atomicfile.Write(out, []byte(exp.WGQuick), 0o600); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "profile written to %s\n", out)
			} else {
				fmt.Fprint(cmd.OutOrStdout(), exp.WGQuick)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "limits: UDP only, fixed PSK (no rotation), no certificate: revoke with `intransit p2s remove %s`\n", exp.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "output format: wg-quick")
	cmd.Flags().StringVar(&group, "group", "default", "the device's policy group")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "gateway UDP address as the device dials it (HOST:PORT); default: p2s listen.udp")
	cmd.Flags().StringVar(&out, "out", "", "write the profile to this file (mode 0600) instead of standard output")
	cmd.Flags().StringVar(&qr, "qr", "", "also write the profile as a PNG QR code (mode 0600)")
	cmd.Flags().StringVar(&socket, "socket", daemonconfig.DefaultP2SAdminSocket, "p2s admin socket of intransitd")
	return cmd
}

func newP2SRemoveCommand() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Revoke a static device: its peer, address lease and record are removed at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := gateway.RequestRemove(cmd.Context(), socket, args[0])
			var ref *enroll.Refusal
			if errors.As(err, &ref) {
				return refusal(err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "static device %s removed\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&socket, "socket", daemonconfig.DefaultP2SAdminSocket, "p2s admin socket of intransitd")
	return cmd
}

func newP2SForgetCommand() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "forget NAME",
		Short: "Remove an enrolled laptop from the gateway: its session ends, its record and address lease go",
		Long: `Remove an enrolled laptop: its running session is closed, its client record
and its address lease are deleted, so it cannot connect again (it would have
to enroll anew) and its address returns to the pool. Revoke its certificate
as well (intransit pki revoke NAME) so that the CA agrees.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := gateway.RequestForget(cmd.Context(), socket, args[0])
			var ref *enroll.Refusal
			if errors.As(err, &ref) {
				return refusal(err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "client %s forgotten; its address is free\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&socket, "socket", daemonconfig.DefaultP2SAdminSocket, "p2s admin socket of intransitd")
	return cmd
}
