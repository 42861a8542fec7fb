package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"intransit/internal/daemonconfig"
	"intransit/internal/output"
	"intransit/internal/status"
)

// newStatusCommand builds `intransit status`: the daemon's report from its
// local socket.
func newStatusCommand() *cobra.Command {
	var socket string
	format := output.Table
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the gateway daemon's tunnels: peers, transport, handshakes, bytes, PSK age, certificates",
		Long: `Read the status of the running intransitd from its local unix socket (root
only): the gateway's identity, then per remote gateway its state, the
transport and endpoint in use, the last WireGuard handshake, bytes, the
post-quantum PSK's epoch and age, the certificate's expiry and, when it is
not up, the reason; then the fail-closed blocks (what each keeps from
leaving in clear, whether it is rejecting traffic now and why, and how many
packets it rejected); then the last refused connections.

Exit codes: 0 every remote is up, 1 at least one is not, 2 the daemon could
not be reached.`,
		Example: `  intransit status
  intransit status --socket /run/intransitd/status.sock --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := status.Get(cmd.Context(), socket)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == output.JSON {
				err = output.WriteJSON(w, rep)
			} else {
				err = writeStatus(w, rep)
			}
			if err != nil {
				return err
			}
			var down []string
			for _, p := range rep.Peers {
				if p.State != status.StateUp {
					down = append(down, p.Name)
				}
			}
			if len(down) > 0 {
				return refusalf("not up: %s", strings.Join(down, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&socket, "socket", daemonconfig.DefaultStatusSocket, "status socket of intransitd")
	cmd.Flags().Var(&format, "output", "table or json")
	return cmd
}

// writeStatus prints a report for people.
func writeStatus(w io.Writer, rep *status.Report) error {
	g := rep.Gateway
	fmt.Fprintf(w, "gateway   %s (certificate until %s)\n", g.Identity, day(g.CertExpiry))
	if g.Interface == "" {
		fmt.Fprintln(w, "tunnel    none: a gateway for laptops only (no remotes, no listen)")
	} else {
		fmt.Fprintf(w, "tunnel    %s mtu %d, key %s, transports %s, control %s\n", g.Interface, g.MTU, g.PublicKey, strings.Join(g.Transports, " "), g.Control)
	}
	fmt.Fprintf(w, "sites     %s\n", strings.Join(g.SitePrefixes, " "))
	if g.ConfigPath != "" {
		fmt.Fprintf(w, "config    %s (loaded %s)\n", g.ConfigPath, g.ConfigLoaded.Format(time.RFC3339))
	}
	switch r := g.LastReload; {
	case r.At.IsZero():
	case r.Refused != "":
		fmt.Fprintf(w, "reload    refused %s: %s\n", r.At.Format(time.RFC3339), r.Refused)
	default:
		fmt.Fprintf(w, "reload    applied %s\n", r.At.Format(time.RFC3339))
	}
	writeCertificates(w, rep.Certificates)
	writeCRLPublisher(w, rep.CRLPublisher)
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(rep.Peers))
	for _, p := range rep.Peers {
		why := p.Reason
		if p.Detail != "" {
			why += ": " + p.Detail
		}
		if len(why) > 80 {
			why = why[:77] + "..."
		}
		psk := "-"
		if p.PSKEpoch > 0 {
			psk = fmt.Sprintf("#%d %s", p.PSKEpoch, ago(rep.Time, p.PSKInstalled))
		}
		rows = append(rows, []string{p.Name, p.State, dash(p.Transport), dash(p.Endpoint), ago(rep.Time, p.LastHandshake),
			byteCount(p.RxBytes), byteCount(p.TxBytes), psk, day(p.CertExpiry), dash(strings.Join(p.Routes, " ")), dash(why)})
	}
	if err := output.WriteTable(w, []string{"REMOTE", "STATE", "TRANSPORT", "ENDPOINT", "HANDSHAKE", "RX", "TX", "PSK", "CERT UNTIL", "ROUTES", "REASON"}, rows); err != nil {
		return err
	}
	if err := writeBlocks(w, rep.Blocks); err != nil {
		return err
	}
	if len(rep.Refusals) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nrecent refusals")
	rows = rows[:0]
	for _, r := range rep.Refusals {
		rows = append(rows, []string{r.Time.Format(time.RFC3339), r.Remote, dash(r.Identity), r.Reason, r.Detail})
	}
	return output.WriteTable(w, []string{"TIME", "FROM", "IDENTITY", "REASON", "DETAIL"}, rows)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ago prints how long before now t was, "-" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02")
}

// byteCount prints a byte count with a binary unit.
func byteCount(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
