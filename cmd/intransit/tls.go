package main

import "github.com/spf13/cobra"

// newTLSCommand groups the TLS policy commands: audit and proxy.
func newTLSCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Audit TLS endpoints and put plaintext services behind policy-checked TLS",
	}
	cmd.AddCommand(newTLSAuditCommand())
	cmd.AddCommand(newTLSProxyCommand())
	return cmd
}
