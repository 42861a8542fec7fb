package main

import "github.com/spf13/cobra"

// commandGroups lists the top-level subcommands. Each group is built in a file
// named for it (pki.go, tls.go, demo.go, ...).
func commandGroups() []*cobra.Command {
	return []*cobra.Command{newTLSCommand(), newPKICommand(), newDemoCommand(), newStatusCommand(), newS2SCommand(), newP2SCommand()}
}
