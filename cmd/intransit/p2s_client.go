package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"intransit/internal/logging"
	"intransit/internal/output"
	"intransit/p2s/client"
	"intransit/p2s/enroll"
)

// DefaultP2SDir holds the laptop's profiles.
const defaultP2SDir = "/var/lib/intransit/p2s"

// profileFlags are the flags naming a laptop profile.
type profileFlags struct {
	dir, profile string
}

func (p *profileFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.dir, "dir", defaultP2SDir, "directory of the laptop's profiles")
	cmd.Flags().StringVar(&p.profile, "profile", client.DefaultProfile, "profile (one per gateway)")
}

func (p *profileFlags) path() (string, error) { return client.ProfileDir(p.dir, p.profile) }

func newP2SEnrollCommand() *cobra.Command {
	var pf profileFlags
	var token, tokenFile string
	cmd := &cobra.Command{
		Use:   "enroll https://GATEWAY[:PORT] | LINK  --token-file FILE|-",
		Short: "Enroll this laptop with a gateway: local key, CSR, client certificate, pinned CA",
		Long: `Redeem a one-time token (from intransit p2s invite) at the gateway's
enrollment endpoint. The private key is generated here and never leaves this
machine; the gateway's CA is checked against the pin inside the token before
anything is sent. The profile (certificate, CA, keys) is written under --dir.

The token is read from --token-file, or from standard input with
--token-file -. --token still works but puts the token on the command line,
where every local user can read it (ps, /proc) until it is redeemed.

Exit codes: 0 enrolled, 1 the gateway refused (expired or used token, weak
key, ...), 2 could not run.`,
		Example: `  intransit p2s enroll https://vpn.example.com:8445 --token-file token.txt
  pass show vpn-token | intransit p2s enroll https://vpn.example.com:8445 --token-file -
  intransit p2s enroll 'https://vpn.example.com:8445/#itp1.xxx'   # a console invitation's link (visible in ps: prefer --token-file)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, linked, ok, err := enroll.ParseLink(args[0])
			if err != nil {
				return err
			}
			if ok && token == "" && tokenFile == "" {
				token = linked // on the command line all the same: readToken warns
			}
			tok, err := readToken(cmd, token, tokenFile)
			if err != nil {
				return err
			}
			dir, err := pf.path()
			if err != nil {
				return err
			}
			p, err := client.Enroll(cmd.Context(), dir, base, tok)
			var ref *enroll.Refusal
			if errors.As(err, &ref) {
				return refusal(fmt.Errorf("the gateway refused the enrollment: %w", err))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "enrolled as %s (group %s, %s) at %s; profile %s\n", p.Name, p.Group, p.Identity, p.Gateway, dir)
			return nil
		},
	}
	pf.add(cmd)
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the one-time token from intransit p2s invite; - reads standard input")
	cmd.Flags().StringVar(&token, "token", "", "the one-time token itself (visible to every local user in ps; prefer --token-file)")
	return cmd
}

// maxTokenInput bounds what is read from a token file or standard input.
const maxTokenInput = 4 << 10

// readToken returns the one-time token from file (a path, or "-" for the
// command's standard input) or from arg, the --token flag, which warns on
// standard error: argv is readable by every local user.
func readToken(cmd *cobra.Command, arg, file string) (string, error) {
	switch {
	case arg != "" && file != "":
		return "", errors.New("give either --token-file or --token, not both")
	case arg != "":
		fmt.Fprintln(cmd.ErrOrStderr(), "warning: the one-time token is on the command line (--token or an enrollment link), where every local user can read it (ps, /proc); use --token-file FILE, or --token-file - to read it from standard input")
		return arg, nil
	case file == "":
		return "", errors.New("--token-file is required: a file holding the token from intransit p2s invite, or - for standard input")
	}
	in, what := cmd.InOrStdin(), "standard input"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		defer f.Close()
		in, what = f, "token file "+file
	}
	b, err := io.ReadAll(io.LimitReader(in, maxTokenInput+1))
	if err != nil {
		return "", fmt.Errorf("read the token from %s: %w", what, err)
	}
	if len(b) > maxTokenInput {
		return "", fmt.Errorf("%s holds more than %d bytes: not a token", what, maxTokenInput)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%s is empty: want the token from intransit p2s invite", what)
	}
	return t, nil
}

func newP2SConnectCommand() *cobra.Command {
	var pf profileFlags
	var opts client.Options
	var logFormat, logLevel string
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "Connect to the profile's gateway and stay connected (foreground) until stopped",
		Long: `Connect to the gateway of a profile and stay connected: transports are tried
in order (udp, quic, tls on 443) with fallback within seconds, routes and DNS
are applied while connected and restored on exit (SIGINT/SIGTERM, or
intransit p2s disconnect), and the client reconnects by itself after link
changes, sleep or a gateway restart. Run it under systemd for a daemon.

Fail closed: while the client connects or reconnects, and after it died,
the split-tunnel prefixes of the last session leave only through the tunnel
(nftables table inet intransit_guard_<interface>); with --lockdown nothing
leaves but the tunnel's own packets. A clean stop lifts the block; after a
crash the next start or intransit p2s disconnect does.`,
		Example: `  intransit p2s connect --profile work`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := pf.path()
			if err != nil {
				return err
			}
			opts.Dir = dir
			level, err := logging.ParseLevel(logLevel)
			if err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			opts.Logger = logging.New(cmd.ErrOrStderr(), logFormat, level)
			c, err := client.New(opts)
			if err != nil {
				return revokedRefusal(err)
			}
			ln, err := c.ListenStatus()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			errc := make(chan error, 1)
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() { errc <- c.ServeStatus(sctx, ln) }()
			err = c.Run(ctx)
			cancel()
			if serr := <-errc; serr != nil && err == nil {
				err = serr
			}
			return revokedRefusal(err)
		},
	}
	pf.add(cmd)
	cmd.Flags().StringVar(&opts.Interface, "interface", client.DefaultInterface, "TUN interface name")
	cmd.Flags().StringVar(&opts.DNSMode, "dns", client.DNSAuto, "DNS handling: auto, resolvectl, resolv.conf or off")
	cmd.Flags().StringVar(&opts.ResolvConf, "resolv-conf", "/etc/resolv.conf", "resolv.conf replaced in resolv.conf mode")
	cmd.Flags().IntVar(&opts.UnderlayMTU, "underlay-mtu", 1500, "MTU of the path to the gateway (at least 1280): packets, TCP segments and the tunnel MTU are sized to it")
	cmd.Flags().BoolVar(&opts.Lockdown, "lockdown", false, "let nothing but the tunnel's own packets leave while running, connected or not (for a full tunnel; also the profile's lockdown: true)")
	cmd.Flags().StringVar(&logFormat, "log-format", logging.Text, "text or json")
	cmd.Flags().StringVar(&logLevel, "log-level", logging.Info, "log level: debug, info, warn or error")
	return cmd
}

func newP2SStatusCommand() *cobra.Command {
	var pf profileFlags
	format := output.Table
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running client: state, address, transport, handshake, bytes, PSK (exit 1 when not connected)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := pf.path()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			st, err := client.GetStatus(ctx, dir)
			if err != nil {
				rst, rerr := client.RevokedStatus(dir)
				if rerr != nil || rst == nil {
					return refusal(err)
				}
				st = rst
			}
			w := cmd.OutOrStdout()
			if format == output.JSON {
				err = output.WriteJSON(w, st)
			} else {
				err = writeClientStatus(w, st)
			}
			if err != nil {
				return err
			}
			if st.State != client.StateConnected {
				return refusalf("not connected: %s %s", st.Reason, st.Detail)
			}
			return nil
		},
	}
	pf.add(cmd)
	cmd.Flags().Var(&format, "output", "table or json")
	return cmd
}

func writeClientStatus(w io.Writer, st *client.Status) error {
	rows := [][]string{
		{"profile", st.Profile}, {"client", fmt.Sprintf("%s (group %s)", st.Name, st.Group)},
		{"gateway", strings.TrimSpace(st.Gateway + " " + st.GatewayIdentity)},
		{"state", strings.TrimSpace(st.State + " " + st.Reason + " " + st.Detail)},
		{"addresses", strings.Join(st.Addresses, " ")}, {"routes", strings.Join(st.Routes, " ")},
		{"dns", strings.TrimSpace(strings.Join(st.DNSServers, " ") + " " + strings.Join(st.SearchDomains, " "))},
		{"transport", strings.TrimSpace(st.Transport + " " + st.Endpoint)},
		{"handshake", st.LastHandshake.Format(time.RFC3339)},
		{"bytes", fmt.Sprintf("rx %d tx %d", st.RxBytes, st.TxBytes)},
		{"psk", fmt.Sprintf("epoch %d, installed %s", st.PSKEpoch, st.PSKInstalled.Format(time.RFC3339))},
		{"cert until", st.CertExpiry.Format(time.RFC3339)},
	}
	if err := output.WriteTable(w, []string{"FIELD", "VALUE"}, rows); err != nil {
		return err
	}
	return writeBlocks(w, st.Blocks)
}

func newP2SDisconnectCommand() *cobra.Command {
	var pf profileFlags
	cmd := &cobra.Command{
		Use:   "disconnect",
		Short: "Stop the running client of a profile; routes and DNS are restored (also after a crash)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := pf.path()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
			defer cancel()
			st, err := client.GetStatus(ctx, dir)
			if err != nil {
				if err := client.Restore(ctx, dir); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "no client running; nothing left applied")
				return nil
			}
			p, err := os.FindProcess(st.PID)
			if err != nil {
				return err
			}
			if err := p.Signal(syscall.SIGTERM); err != nil {
				return fmt.Errorf("stop client (pid %d): %w", st.PID, err)
			}
			for {
				if _, err := client.GetStatus(ctx, dir); err != nil {
					break
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("client (pid %d) still running after SIGTERM", st.PID)
				case <-time.After(100 * time.Millisecond):
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "disconnected (pid %d stopped)\n", st.PID)
			return nil
		},
	}
	pf.add(cmd)
	return cmd
}

// revokedRefusal makes a client's end by revocation a refusal (exit 1):
// restarting it cannot help, enrolling again does.
func revokedRefusal(err error) error {
	var re *client.RevokedError
	if errors.As(err, &re) {
		return refusal(err)
	}
	return err
}
