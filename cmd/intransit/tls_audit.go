package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"intransit/internal/output"
	"intransit/tlspolicy"
	"intransit/tlspolicy/audit"
)

// newTLSAuditCommand builds `intransit tls audit HOST:PORT`.
func newTLSAuditCommand() *cobra.Command {
	var (
		sni         string
		profileName string
		caFile      string
		format      output.Format
		timeout     time.Duration
		concurrency int
		expiry      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "audit HOST:PORT",
		Short: "Probe a TLS endpoint and judge it against a profile",
		Long: `Probe a TLS endpoint with hand-built ClientHellos (SSL 3.0 to TLS 1.3, every
IANA cipher suite, every key exchange group including the hybrid post-quantum
ones) and read its certificate chain, then judge each finding against a
profile: a built-in one or a YAML profile file (see intransit tls proxy).

Exit codes: 0 compliant, 1 not compliant, 2 the audit could not run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prof, err := tlspolicy.LoadProfile(profileName)
			if err != nil {
				return fmt.Errorf("--profile: %w", err)
			}
			var roots *x509.CertPool
			if caFile != "" {
				pemBytes, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("--ca: %w", err)
				}
				roots = x509.NewCertPool()
				if !roots.AppendCertsFromPEM(pemBytes) {
					return fmt.Errorf("--ca %s: no PEM certificate found", caFile)
				}
			}
			rep, err := audit.Run(cmd.Context(), audit.Options{
				Address: args[0], ServerName: sni, Profile: prof, Roots: roots,
				Timeout: timeout, Concurrency: concurrency, ExpiryWindow: expiryWindow(expiry),
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format == output.JSON {
				err = output.WriteJSON(out, rep)
			} else {
				err = rep.WriteTable(out)
			}
			if err != nil {
				return err
			}
			if failed := rep.Failed(); len(failed) > 0 {
				return refusalf("%s is not compliant with profile %s: %d check(s) failed, first %s: %s",
					args[0], prof.Name, len(failed), failed[0].ID, failed[0].Detail)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sni, "sni", "", "server name to send and to check the certificate against (default: the host)")
	f.StringVar(&profileName, "profile", tlspolicy.Baseline, fmt.Sprintf("profile to judge against: built-in name %v or YAML file", tlspolicy.BuiltinNames()))
	f.StringVar(&caFile, "ca", "", "PEM file of trusted CA certificates (default: the system pool)")
	f.Var(&format, "output", "output format: table or json")
	f.DurationVar(&timeout, "timeout", audit.DefaultTimeout, "timeout of each probe")
	f.IntVar(&concurrency, "concurrency", audit.DefaultConcurrency, "probes in flight at once")
	f.DurationVar(&expiry, "expiry-window", audit.DefaultExpiryWindow, "a certificate expiring within this fails the certificate.expiry check (0: no such check)")
	return cmd
}

// expiryWindow turns the --expiry-window flag into the audit's option, in
// which 0 means the default and a negative window no check.
func expiryWindow(flag time.Duration) time.Duration {
	if flag <= 0 {
		return -1
	}
	return flag
}
