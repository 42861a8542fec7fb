package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"intransit/internal/atomicfile"
	"intransit/internal/output"
	"intransit/pki"
	"intransit/pki/keywrap"
	"intransit/pki/store"
)

// newDemoCommand builds `intransit demo`: a throw-away setup that shows the
// toolkit working: the site-to-site netns demo (demo_s2s.go), or with
// --pki-only (or --dir) the PKI quickstart.
func newDemoCommand() *cobra.Command {
	var dir, forward string
	var pkiOnly, keep, down bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Two sites joined by intransitd gateways and a laptop, in network namespaces (root); --pki-only: the PKI quickstart",
		Long: s2sDemoHelp + `

With --keep, nothing is removed at the end: the gateways and the laptop keep
running, and the demo prints the URL of gateway B's web console on this
machine (forwarded from B's namespace); intransit demo --down removes it all.

With --pki-only (implied by --dir), run the PKI quickstart instead, in a fresh temporary directory (or --dir, which must not
hold a PKI yet): create a PKI with a generated passphrase, issue a gateway, a
server and a client certificate, verify each chain in Go and with openssl
(when installed), revoke the client, write the CRL and show that openssl now
refuses the client, list the certificates, and say where the verified chain
is on disk. Needs no root and takes a few seconds.`,
		Example: `  intransit demo
  intransit demo --keep        # then open the printed console URL; intransit demo --down
  intransit demo --pki-only
  intransit demo --dir /tmp/pki-demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case forward != "":
				return runConsoleForward(cmd.Context(), forward)
			case down:
				return runDemoDown(cmd.OutOrStdout())
			case !pkiOnly && dir == "":
				return runS2SDemo(cmd.Context(), cmd.OutOrStdout(), "", keep)
			}
			if dir == "" {
				d, err := os.MkdirTemp("", "intransit-demo-")
				if err != nil {
					return fmt.Errorf("create demo directory: %w", err)
				}
				dir = d
			}
			return runPKIQuickstart(cmd.Context(), cmd.OutOrStdout(), dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to build the PKI quickstart in (implies --pki-only; default: a new temporary directory)")
	cmd.Flags().BoolVar(&pkiOnly, "pki-only", false, "run the PKI quickstart only (no root needed)")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the demo running at the end and print the URL of gateway B's web console")
	cmd.Flags().BoolVar(&down, "down", false, "remove a demo left running by --keep")
	cmd.Flags().StringVar(&forward, "forward-console", "", "")
	_ = cmd.Flags().MarkHidden("forward-console")
	cmd.MarkFlagsMutuallyExclusive("keep", "down", "pki-only")
	return cmd
}

// runPKIQuickstart is the PKI part of the demo.
func runPKIQuickstart(ctx context.Context, w io.Writer, dir string) error {
	pkiDir := filepath.Join(dir, "pki")
	issuedDir := filepath.Join(dir, "issued")
	passFile := filepath.Join(dir, "passphrase")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create demo directory: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("generate passphrase: %w", err)
	}
	pass := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(passFile, []byte(pass+"\n"), 0o600); err != nil {
		return fmt.Errorf("write passphrase: %w", err)
	}
	secret := keywrap.Passphrase([]byte(pass))
	defer secret.Wipe()

	fmt.Fprintf(w, "== 1. create a PKI in %s\n", pkiDir)
	ca, err := pki.Init(ctx, pki.InitOptions{Dir: pkiDir, Name: "demo", Secret: secret, CRLURL: "http://pki.demo.internal/crl"})
	if err != nil {
		return pkiError(err)
	}
	defer ca.Close()
	fmt.Fprintf(w, "   root %s and intermediate %s; CA keys wrapped under an argon2id master key\n", pki.DescribeKey(ca.Root().PublicKey), pki.DescribeKey(ca.Intermediate().PublicKey))
	fmt.Fprintf(w, "   (the generated passphrase is in %s, for this demo only)\n", passFile)

	fmt.Fprintln(w, "== 2. issue a gateway, a server and a client certificate")
	reqs := []pki.Request{
		{Profile: pki.ProfileGateway, Name: "gw1", DNSNames: []string{"gw1.demo.internal"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}},
		{Profile: pki.ProfileServer, Name: "web", DNSNames: []string{"web.demo.internal"}},
		{Profile: pki.ProfileClient, Name: "alice"},
	}
	var issued []*pki.Issued
	var files []pki.IssuedFiles
	for _, r := range reqs {
		is, err := ca.Issue(ctx, r, pki.ECDSAP256)
		if err != nil {
			return pkiError(err)
		}
		f, err := ca.WriteIssued(issuedDir, is)
		if err != nil {
			return pkiError(err)
		}
		issued, files = append(issued, is), append(files, f)
		fmt.Fprintf(w, "   %-7s %-6s serial %s  %s\n", r.Profile, r.Name, pki.FormatSerial(is.Certificate.SerialNumber), f.Cert)
	}

	fmt.Fprintln(w, "== 3. verify each chain")
	root := filepath.Join(pkiDir, pki.RootCertFile)
	inter := filepath.Join(pkiDir, pki.IntermediateFile)
	opensslBin, lookErr := exec.LookPath("openssl")
	for i, is := range issued {
		if err := verifyInGo(ca, is.Certificate); err != nil {
			return fmt.Errorf("%s: Go verification failed: %w", reqs[i].Name, err)
		}
		fmt.Fprintf(w, "   %-6s Go crypto/x509: OK\n", reqs[i].Name)
		args := []string{"verify", "-CAfile", root, "-untrusted", inter, files[i].Cert}
		if err := runOpenSSL(w, opensslBin, lookErr, args, true); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "== 4. revoke alice and publish a CRL")
	rev, err := ca.RevokeRef(ctx, "alice", store.ReasonKeyCompromise)
	if err != nil {
		return pkiError(err)
	}
	crl, err := ca.NewCRL(ctx)
	if err != nil {
		return pkiError(err)
	}
	crlPath := filepath.Join(dir, "crl.pem")
	if err := atomicfile.Write(crlPath, pki.PEMCRL(crl.DER), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "   revoked %s (%s); CRL number %d written to %s\n", pki.FormatSerial(rev.Serial), rev.Reason, crl.Number, crlPath)
	args := []string{"verify", "-crl_check", "-CRLfile", crlPath, "-CAfile", root, "-untrusted", inter, files[2].Cert}
	if err := runOpenSSL(w, opensslBin, lookErr, args, false); err != nil {
		return err
	}

	fmt.Fprintln(w, "== 5. intransit pki list")
	recs, err := ca.List(ctx, store.Filter{})
	if err != nil {
		return err
	}
	if err := writeCertList(w, output.Table, recs); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nVerified chain on disk: %s -> %s -> %s (server chain: %s)\n", files[0].Cert, inter, root, files[0].Chain)
	fmt.Fprintf(w, "Go on with: intransit pki list --dir %s --passphrase-file %s\n", pkiDir, passFile)
	return nil
}

func verifyInGo(ca *pki.CA, c *x509.Certificate) error {
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.Root())
	inters.AddCert(ca.Intermediate())
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: c.ExtKeyUsage})
	return err
}

// runOpenSSL prints the openssl command and runs it when openssl is
// installed; wantOK says whether it should succeed.
func runOpenSSL(w io.Writer, bin string, lookErr error, args []string, wantOK bool) error {
	fmt.Fprintf(w, "   $ openssl %s\n", strings.Join(args, " "))
	if lookErr != nil {
		fmt.Fprintln(w, "     (openssl is not installed; run the command above where it is)")
		return nil
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fmt.Fprintf(w, "     %s\n", l)
	}
	var exitErr *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exitErr):
		return fmt.Errorf("run openssl: %w", err)
	case wantOK && err != nil:
		return refusalf("openssl refused a certificate Go accepted")
	case !wantOK && err == nil:
		return refusalf("openssl accepted a revoked certificate")
	case !wantOK:
		fmt.Fprintln(w, "     -> refused, as it should be: the certificate is revoked")
	}
	return nil
}
