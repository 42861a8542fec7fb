package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"intransit/internal/configcheck"
	"intransit/internal/daemonconfig"
	"intransit/internal/output"
	"intransit/tunnel/failclosed"
)

// newS2SCommand builds the `intransit s2s` group: helpers for site-to-site
// gateway configurations.
func newS2SCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "s2s",
		Short: "Site-to-site gateways: check configurations, run the netns demo, lift a stopped gateway's block",
	}
	cmd.AddCommand(newS2SCheckConfigCommand(), newS2SDemoCommand(), newS2SUnblockCommand(failclosed.NFT{}))
	return cmd
}

// checkResult is what check-config reports: the findings of
// configcheck.File (the same as intransitd --check), and the remotes of a
// configuration without any.
type checkResult struct {
	File     string                `json:"file"`
	OK       bool                  `json:"ok"`
	Findings []*daemonconfig.Error `json:"findings"`
	Remotes  []checkRemote         `json:"remotes,omitempty"`
}

type checkRemote struct {
	Name       string   `json:"name"`
	Identity   string   `json:"identity"`
	Dials      bool     `json:"dials"`
	Transports []string `json:"transports"`
	Allowed    []string `json:"allowed_prefixes"`
}

func newS2SCheckConfigCommand() *cobra.Command {
	format := output.Table
	cmd := &cobra.Command{
		Use:   "check-config FILE",
		Short: "Check an intransitd configuration as intransitd --check does (exit 1 with every finding's file, line and field)",
		Long: `Check an intransitd configuration as the daemon would start with it, with the
same code as intransitd --check: syntax, values, port and prefix clashes, then
every file it names (certificate and key, CA bundle, CRL, CA secret, etcd
client files). Every finding is printed as FILE:LINE: FIELD: MESSAGE, then the
count; exit 0 when there is none, 1 when there are findings, 2 when the file
cannot be read. --output json prints {file, ok, findings: [{file, line, field,
message}], remotes}.`,
		Example: `  intransit s2s check-config /etc/intransit/intransitd.yaml
  intransit s2s check-config gw.yaml --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, findings, err := configcheck.File(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			res := checkResult{File: args[0], OK: len(findings) == 0, Findings: findings}
			if res.Findings == nil {
				res.Findings = []*daemonconfig.Error{}
			}
			if res.OK {
				for _, r := range cfg.Remotes {
					cr := checkRemote{Name: r.Name, Identity: r.Identity, Dials: len(r.Control) > 0, Transports: r.Transports}
					for _, p := range r.AllowedPrefixes {
						cr.Allowed = append(cr.Allowed, p.String())
					}
					res.Remotes = append(res.Remotes, cr)
				}
			}
			w := cmd.OutOrStdout()
			switch {
			case format == output.JSON:
				if err := output.WriteJSON(w, res); err != nil {
					return err
				}
			case res.OK:
				fmt.Fprintf(w, "%s: ok\n", res.File)
				rows := make([][]string, 0, len(res.Remotes))
				for _, r := range res.Remotes {
					dials := "accepts"
					if r.Dials {
						dials = "dials"
					}
					rows = append(rows, []string{r.Name, r.Identity, dials, strings.Join(r.Transports, ","), strings.Join(r.Allowed, " ")})
				}
				if err := output.WriteTable(w, []string{"REMOTE", "IDENTITY", "CONTROL", "TRANSPORTS", "ALLOWED"}, rows); err != nil {
					return err
				}
			default:
				for _, f := range findings {
					fmt.Fprintln(cmd.ErrOrStderr(), f)
				}
			}
			if !res.OK {
				return refusalf("%s: %s", res.File, configcheck.Count(len(findings)))
			}
			return nil
		},
	}
	cmd.Flags().Var(&format, "output", "table or json")
	return cmd
}
