package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"intransit/internal/atomicfile"
	"intransit/pki"
	"intransit/pki/keywrap"
	"intransit/pki/store"
)

// rootSecret resolves the master secret for an operation with the root
// key (and, withIntermediate, the intermediate keys), or none when those
// keys or the master key are in a token.
func (o *pkiOptions) rootSecret(cmd *cobra.Command, withIntermediate bool) (keywrap.Secret, error) {
	need, err := pki.RootNeedsSecret(o.dir)
	if err == nil && !need && withIntermediate {
		need, err = pki.NeedsSecret(o.dir)
	}
	if err != nil {
		return keywrap.Secret{}, pkiError(err)
	}
	if !need {
		return keywrap.Secret{}, nil
	}
	return o.secrets(cmd).resolve("PKI master key", false, true)
}

func newPKIRotateIntermediateCommand(o *pkiOptions) *cobra.Command {
	var (
		ttl, kmsURI string
	)
	cmd := &cobra.Command{
		Use:   "rotate-intermediate",
		Short: "Make a new intermediate CA under the same root; the old one stays trusted until it expires",
		Long: `Make a new intermediate CA, signed by the root, and issue from it from now on.
The one it replaces moves to DIR/intermediates/<serial>.crt and stays in the CA
bundle until it expires; its key is kept so that its CRL is still signed
("pki crl" writes it as DIR/crl-<serial>.pem) and its leaves can be revoked.
Leaves move to the new intermediate as they renew. Revoke the old one with
"pki revoke-intermediate" once they have. Needs the root key. --kms makes the
new key in a PKCS#11 token (default: where the current key is).`,
		Example: `  intransit pki rotate-intermediate
  intransit pki rotate-intermediate --ttl 1825d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := pki.RotateOptions{KMS: kmsURI}
			if ttl != "" {
				d, err := parseDays(ttl)
				if err != nil || d <= 0 {
					return refusalf("--ttl %q: want a lifetime above zero, like 1825d", ttl)
				}
				opts.TTL = d
			}
			sec, err := o.rootSecret(cmd, true)
			if err != nil {
				return err
			}
			defer sec.Wipe()
			inter, err := pki.RotateIntermediate(cmd.Context(), o.dir, sec, opts)
			if err != nil {
				return pkiError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new intermediate %q, serial %s, until %s, issues from now on\n  %s\n  the previous one is in %s until it expires\n",
				inter.Subject.CommonName, pki.FormatSerial(inter.SerialNumber), inter.NotAfter.Format(time.RFC3339),
				filepath.Join(o.dir, pki.IntermediateFile), filepath.Join(o.dir, pki.PreviousIntermediatesDir))
			return nil
		},
	}
	cmd.Flags().StringVar(&ttl, "ttl", "", "lifetime of the new intermediate (default 5 years, cut at the root's expiry)")
	cmd.Flags().StringVar(&kmsURI, "kms", "", "make the new key in this PKCS#11 token (RFC 7512 URI)")
	return cmd
}

func newPKIRevokeIntermediateCommand(o *pkiOptions) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke-intermediate SERIAL",
		Short: "Revoke an intermediate CA: the root signs its CRL with it at once",
		Long: `Revoke an intermediate CA certificate (the current one or one replaced by
rotate-intermediate) and re-sign the root's CRL (DIR/root.crl, root.crl.pem)
with it at once: every certificate under that intermediate then fails a check
of the chain's CRLs. The serial is hex as openssl prints it, or decimal.
Needs the root key.`,
		Example: `  intransit pki revoke-intermediate 3a1f...e2 --reason superseded`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := store.ParseReason(reason)
			if err != nil {
				return refusal(err)
			}
			sn, err := pki.ParseSerial(args[0])
			if err != nil {
				return refusal(err)
			}
			sec, err := o.rootSecret(cmd, false)
			if err != nil {
				return err
			}
			defer sec.Wipe()
			rl, err := pki.RevokeIntermediate(cmd.Context(), o.dir, sec, sn, r)
			if err != nil {
				return pkiError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked intermediate %s (%s); root CRL number %s with %d entries, next update %s\n  %s\n",
				pki.FormatSerial(sn), r, rl.Number, len(rl.RevokedCertificateEntries), rl.NextUpdate.Format(time.RFC3339), filepath.Join(o.dir, pki.RootCRLFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", string(store.ReasonUnspecified), "revocation reason: "+strings.Join(store.ReasonNames(), ", "))
	return cmd
}

func newPKIRootCRLCommand(o *pkiOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "root-crl",
		Short: "Re-sign the root's CRL of its intermediates (due once a year)",
		Long: `Re-sign the root's CRL (DIR/root.crl and root.crl.pem) with the same entries
and the next number. The root key is offline, so its CRL is valid for a year;
run this before its next update. Needs the root key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sec, err := o.rootSecret(cmd, false)
			if err != nil {
				return err
			}
			defer sec.Wipe()
			rl, err := pki.SignRootCRL(cmd.Context(), o.dir, sec)
			if err != nil {
				return pkiError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "root CRL number %s (%d revoked intermediates), next update %s\n  %s\n",
				rl.Number, len(rl.RevokedCertificateEntries), rl.NextUpdate.Format(time.RFC3339), filepath.Join(o.dir, pki.RootCRLFile))
			return nil
		},
	}
}

// writePreviousCRLs writes the CRL of every replaced intermediate still
// valid as DIR/crl-<serial>.pem and returns the paths.
func writePreviousCRLs(cmd *cobra.Command, ca *pki.CA, dir string) ([]string, error) {
	crls, err := ca.PreviousCRLs(cmd.Context())
	if err != nil {
		return nil, pkiError(err)
	}
	var paths []string
	for i, c := range crls {
		p := filepath.Join(dir, "crl-"+pki.FormatSerial(ca.Intermediates()[i+1].SerialNumber)+".pem")
		if err := atomicfile.Write(p, c, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
