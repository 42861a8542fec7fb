// Command intransit is the command-line interface of the intransit toolkit:
// the internal PKI, the TLS policy engine (audit and proxy), site-to-site and
// point-to-site tunnels, and the daemon's status.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := newRootCommand()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "intransit:", err)
		os.Exit(exitCode(err))
	}
}

// newRootCommand builds the command tree. Each subcommand group lives in a
// file of its own and registers through one constructor here.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "intransit",
		Short: "In-transit encryption: internal PKI, TLS policy, site-to-site and point-to-site tunnels",
		Long: `intransit encrypts data in motion between sites, laptops and services.

  intransit pki     run the internal certificate authority
  intransit tls     audit TLS endpoints, proxy plaintext services behind TLS
  intransit s2s     site-to-site gateways (the daemon is intransitd)
  intransit p2s     point-to-site: invite, enroll and connect laptops
  intransit status  what the local intransitd is doing
  intransit demo    build a throw-away setup and show it working

Exit codes: 0 ok, 1 a finding or a refusal, 2 the command could not run.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(commandGroups()...)
	root.AddCommand(newManCommand(root))
	return root
}
