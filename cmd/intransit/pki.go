package main

import (
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"intransit/internal/atomicfile"
	"intransit/internal/output"
	"intransit/pki"
	"intransit/pki/admin"
	"intransit/pki/keywrap"
	"intransit/pki/store"
)

// pkiOptions are the flags every pki subcommand shares.
type pkiOptions struct {
	dir            string
	passphraseFile string
	keyFile        string
	storeConfig    string
}

func (o *pkiOptions) secrets(cmd *cobra.Command) secretSource {
	return secretSource{keyFile: o.keyFile, passphraseFile: o.passphraseFile, env: os.Getenv, stdin: os.Stdin, stderr: cmd.ErrOrStderr()}
}

// open unlocks and opens the CA.
func (o *pkiOptions) open(cmd *cobra.Command) (*pki.CA, error) {
	sec, err := o.masterSecret(cmd, "PKI master key")
	if err != nil {
		return nil, err
	}
	defer sec.Wipe()
	return o.openWith(cmd, func(opts pki.OpenOptions) (*pki.CA, error) {
		return pki.Open(cmd.Context(), o.dir, sec, opts)
	})
}

// openWith opens the CA through open with the record store that
// --store-config names (the directory's pki.db without it).
func (o *pkiOptions) openWith(cmd *cobra.Command, open func(pki.OpenOptions) (*pki.CA, error)) (*pki.CA, error) {
	st, err := openStore(cmd.Context(), o.storeConfig)
	if err != nil {
		return nil, err
	}
	ca, err := open(pki.OpenOptions{Store: st})
	if err != nil {
		if st != nil {
			st.Close()
		}
		return nil, pkiError(err)
	}
	return ca, nil
}

// masterSecret resolves the master secret, or none when the PKI's keys
// are in a PKCS#11 token.
func (o *pkiOptions) masterSecret(cmd *cobra.Command, what string) (keywrap.Secret, error) {
	need, err := pki.NeedsSecret(o.dir)
	if err != nil {
		return keywrap.Secret{}, pkiError(err)
	}
	if !need {
		return keywrap.Secret{}, nil
	}
	return o.secrets(cmd).resolve(what, false, true)
}

// openPublic opens the CA without its keys, for the read-only commands:
// no master key is asked for.
func (o *pkiOptions) openPublic(cmd *cobra.Command) (*pki.CA, error) {
	return o.openWith(cmd, func(opts pki.OpenOptions) (*pki.CA, error) {
		return pki.OpenPublic(cmd.Context(), o.dir, opts)
	})
}

// pkiError marks the CA's refusals as refusals (exit 1); everything else
// means the command could not run (exit 2).
func pkiError(err error) error {
	if pki.IsRefusal(err) {
		return refusal(err)
	}
	return err
}

// newPKICommand builds `intransit pki`.
func newPKICommand() *cobra.Command {
	o := &pkiOptions{}
	defDir := os.Getenv(envPKIDir)
	if defDir == "" {
		defDir = "pki"
	}
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "Run the internal certificate authority (root + intermediate, profiles, revocation)",
		Long: `Run intransit's internal certificate authority.

A PKI directory holds an offline root and an online intermediate CA whose keys
are stored only wrapped: a master key wraps one AES-256-GCM data key per CA key.
Every certificate issued is recorded in pki.db before it is handed out.

Profiles:
  gateway  serverAuth + clientAuth, DNS/IP names required, at most 397 days
  server   serverAuth, DNS/IP names required, at most 397 days
  client   clientAuth, identity intransit://<ca>/client/<name>, at most 90 days
Keys allowed in certificates: RSA >= 2048, ECDSA P-256/P-384, Ed25519.

The master key comes from, in this order (the first one given wins):
  --key-file FILE            32 raw bytes, or 64 hex digits, or base64
  --passphrase-file FILE     a passphrase, stretched with argon2id
  $INTRANSIT_PKI_KEY         as --key-file's content (for services)
  $INTRANSIT_PKI_PASSPHRASE  a passphrase (for services)
  a prompt                   only when standard input is a terminal
No master key is asked for when the keys in use are in a PKCS#11 token (see
"pki init --help" and "pki rotate-master --help"), nor by list and show.

The directory is --dir, else $INTRANSIT_PKI_DIR, else ./pki. When a daemon
holds the PKI open (intransitd with a pki section), issue, sign, revoke, crl,
list and show go through its admin socket DIR/admin.sock (root only) and no
master key is needed; otherwise they open the store here.
Exit codes: 0 ok, 1 refused (policy, unknown serial, existing PKI), 2 could not run.`,
		Example: `  intransit pki init --dir /etc/intransit/pki --name acme --permitted-dns example.net
  intransit pki issue gw1 --profile gateway --san gw1.example.net --san 192.0.2.1
  intransit pki sign --csr laptop.csr --profile client --name alice
  intransit pki revoke alice --reason keyCompromise
  intransit pki list --status valid --expiring-within 30d --output json`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.dir, "dir", defDir, "PKI directory ($INTRANSIT_PKI_DIR sets the default)")
	pf.StringVar(&o.passphraseFile, "passphrase-file", "", "file holding the master passphrase")
	pf.StringVar(&o.keyFile, "key-file", "", "file holding the 32-byte master key")
	pf.StringVar(&o.storeConfig, "store-config", "", "file with a store section (an intransitd config): keep the records there (etcd) instead of pki.db")
	cmd.AddCommand(
		newPKIInitCommand(o), newPKIIssueCommand(o), newPKISignCommand(o), newPKIRevokeCommand(o),
		newPKICRLCommand(o), newPKIListCommand(o), newPKIShowCommand(o), newPKIRotateCommand(o),
		newPKIRotateIntermediateCommand(o), newPKIRevokeIntermediateCommand(o), newPKIRootCRLCommand(o),
	)
	return cmd
}

func newPKIInitCommand(o *pkiOptions) *cobra.Command {
	var (
		name, rootKT, interKT, crlURL string
		rootKMS, interKMS, masterKMS  string
		permitted                     []string
		crlValidity                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a root and an intermediate CA in a new PKI directory",
		Long: `Create a PKI: a root CA (ECDSA P-384 by default) and an intermediate CA
(ECDSA P-256 by default: it signs every certificate and CRL, and P-256 signs
several times faster than P-384 or RSA). The root allows one CA below it, the
intermediate none; --permitted-dns adds name constraints to the intermediate.
Refuses a directory that already holds a PKI, or anything else. With
--store-config naming etcd the records go to the cluster (which must hold none
under its prefix yet) and the directory gets the keys and certificates only:
copy it to every host that runs the CA.

Keys in hardware: --root-kms and --intermediate-kms generate that CA key inside
a PKCS#11 token, never extractable, and use it there; --master-kms makes the
master key an AES key in a token that wraps the CA keys kept on disk. A token
is named by an RFC 7512 URI whose pin-source names a file holding the PIN
(mode 0600); the PIN never goes on the command line:
  pkcs11:token=intransit;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/intransit/pin`,
		Example: `  intransit pki init --dir ./pki --name acme
  INTRANSIT_PKI_KEY=$(head -c32 /dev/urandom | base64) intransit pki init --key-type rsa-4096
  intransit pki init --root-kms 'pkcs11:token=intransit;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/intransit/pin' \
    --intermediate-kms 'pkcs11:token=intransit;object=intermediate?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/intransit/pin'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := pki.InitOptions{Dir: o.dir, Name: name, PermittedDNSDomains: permitted, CRLURL: crlURL, CRLValidity: crlValidity,
				RootKMS: rootKMS, IntermediateKMS: interKMS, MasterKMS: masterKMS}
			var err error
			if opts.RootKeyType, err = pki.ParseKeyType(rootKT); err != nil {
				return refusal(err)
			}
			if opts.IntermediateKeyType, err = pki.ParseKeyType(interKT); err != nil {
				return refusal(err)
			}
			if err := pki.CheckInitDir(o.dir); err != nil {
				return pkiError(err)
			}
			if masterKMS == "" && (rootKMS == "" || interKMS == "") {
				sec, err := o.secrets(cmd).resolve("new PKI master key", true, true)
				if err != nil {
					return err
				}
				defer sec.Wipe()
				opts.Secret = sec
			}
			if opts.Store, err = openStore(cmd.Context(), o.storeConfig); err != nil {
				return err
			}
			ca, err := pki.Init(cmd.Context(), opts)
			if err != nil {
				if opts.Store != nil {
					opts.Store.Close()
				}
				return pkiError(err)
			}
			defer ca.Close()
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "PKI %q created in %s\n", ca.Config().Name, o.dir)
			fmt.Fprintf(w, "  root          %s  (%s, until %s)\n", filepath.Join(o.dir, pki.RootCertFile), pki.DescribeKey(ca.Root().PublicKey), ca.Root().NotAfter.Format("2006-01-02"))
			fmt.Fprintf(w, "  intermediate  %s  (%s, until %s)\n", filepath.Join(o.dir, pki.IntermediateFile), pki.DescribeKey(ca.Intermediate().PublicKey), ca.Intermediate().NotAfter.Format("2006-01-02"))
			cfg := ca.Config()
			for _, k := range []struct{ what, uri string }{{"root", cfg.RootKey}, {"intermediate", cfg.IntermediateKey}} {
				if k.uri != "" {
					fmt.Fprintf(w, "  %s key in the token, never extractable: %s\n", k.what, k.uri)
				}
			}
			switch {
			case masterKMS != "":
				fmt.Fprintf(w, "  other CA keys wrapped under the master key in the token in %s\n", filepath.Join(o.dir, pki.KeyringFile))
			case opts.Secret.Kind() != "":
				fmt.Fprintf(w, "  CA keys wrapped under the master key (%s) in %s\n", opts.Secret.Kind(), filepath.Join(o.dir, pki.KeyringFile))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "intransit", "CA name (host of intransit:// identities)")
	f.StringVar(&rootKT, "key-type", string(pki.ECDSAP384), "root key type: ecdsa-p384, ecdsa-p256, rsa-3072, rsa-4096, ed25519")
	f.StringVar(&interKT, "intermediate-key-type", string(pki.ECDSAP256), "intermediate key type (same choices)")
	f.StringSliceVar(&permitted, "permitted-dns", nil, "DNS domain the intermediate may issue for (repeatable); none means any")
	f.StringVar(&crlURL, "crl-url", "", "CRL distribution point put in issued certificates")
	f.DurationVar(&crlValidity, "crl-validity", 7*24*time.Hour, "time from a CRL's thisUpdate to its nextUpdate")
	f.StringVar(&rootKMS, "root-kms", "", "generate the root key in this PKCS#11 token (RFC 7512 URI; object = key label)")
	f.StringVar(&interKMS, "intermediate-kms", "", "generate the intermediate key in this PKCS#11 token (RFC 7512 URI)")
	f.StringVar(&masterKMS, "master-kms", "", "make the master key an AES key in this PKCS#11 token (RFC 7512 URI)")
	completeKeyTypes(cmd, "key-type", "intermediate-key-type")
	return cmd
}

// identityFlags are the flags of issue and sign that shape the request.
type identityFlags struct {
	profile string
	sans    []string
	ttl     string
	out     string
}

func (f *identityFlags) add(cmd *cobra.Command, outHelp string) {
	fl := cmd.Flags()
	fl.StringVar(&f.profile, "profile", "", "issuance profile: gateway, server, client or admin (required)")
	fl.StringSliceVar(&f.sans, "san", nil, "DNS name or IP address (repeatable, gateway and server)")
	fl.StringVar(&f.ttl, "ttl", "", "lifetime, e.g. 720h or 30d (default: the profile's)")
	fl.StringVar(&f.out, "out", "", outHelp)
	_ = cmd.MarkFlagRequired("profile")
	_ = cmd.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return pki.ProfileNames(), cobra.ShellCompDirectiveNoFileComp
	})
}

func (f *identityFlags) request(name string) (pki.Request, error) {
	req := pki.Request{Profile: f.profile, Name: name}
	if f.ttl != "" {
		d, err := parseDays(f.ttl)
		if err != nil {
			return req, refusalf("--ttl: %v", err)
		}
		if d <= 0 {
			return req, refusalf("--ttl %s: a certificate needs a lifetime above zero (leave --ttl out for the profile's default)", f.ttl)
		}
		req.TTL = d
	}
	for _, s := range f.sans {
		if ip := net.ParseIP(s); ip != nil {
			req.IPAddresses = append(req.IPAddresses, ip)
			continue
		}
		if strings.ContainsAny(s, ":/@") {
			return req, refusalf("--san %q: only DNS names and IP addresses are accepted (the URI identity is set by the CA)", s)
		}
		req.DNSNames = append(req.DNSNames, s)
	}
	return req, nil
}

func (f *identityFlags) outDir(o *pkiOptions) string {
	if f.out != "" {
		return f.out
	}
	return filepath.Join(o.dir, "issued")
}

func newPKIIssueCommand(o *pkiOptions) *cobra.Command {
	var (
		id      identityFlags
		keyType string
		format  output.Format
	)
	cmd := &cobra.Command{
		Use:   "issue NAME --profile P",
		Short: "Generate a key here and issue a certificate for it",
		Long: `Generate a private key, issue a certificate for it under a profile, and write
NAME.key (mode 0600), NAME.crt and NAME-chain.pem (certificate + intermediate)
into --out (default DIR/issued). The certificate is recorded before any file
is written. Use "pki sign" instead when the key must never leave its owner.`,
		Example: `  intransit pki issue gw1 --profile gateway --san gw1.example.net --san 192.0.2.1
  intransit pki issue web --profile server --san www.example.net --ttl 90d --key-type rsa-3072
  intransit pki issue alice --profile client --out ./alice`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := id.request(args[0])
			if err != nil {
				return err
			}
			kt, err := pki.ParseKeyType(keyType)
			if err != nil {
				return refusal(err)
			}
			out := id.outDir(o)
			keyPath := filepath.Join(out, args[0]+".key")
			if _, err := os.Stat(keyPath); err == nil {
				return refusalf("%s exists; refusing to overwrite a private key (use --out)", keyPath)
			}
			ca, err := o.openCA(cmd, readWrite)
			if err != nil {
				return err
			}
			defer ca.Close()
			is, inter, err := issueHere(cmd, ca, req, kt)
			if err != nil {
				return err
			}
			files, err := pki.WriteIssuedFiles(out, is, inter)
			if err != nil {
				return pkiError(err)
			}
			return printIssued(cmd.OutOrStdout(), format, is, files)
		},
	}
	id.add(cmd, "directory for NAME.key, NAME.crt, NAME-chain.pem (default DIR/issued)")
	cmd.Flags().StringVar(&keyType, "key-type", string(pki.ECDSAP256), "key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
	completeKeyTypes(cmd, "key-type")
	cmd.Flags().Var(&format, "output", "table or json")
	return cmd
}

func newPKISignCommand(o *pkiOptions) *cobra.Command {
	var (
		id      identityFlags
		csrPath string
		name    string
		format  output.Format
	)
	cmd := &cobra.Command{
		Use:   "sign --csr FILE --profile P",
		Short: "Issue a certificate for a CSR (the key never leaves its owner)",
		Long: `Issue a certificate for the public key in a certificate signing request. The
CSR must be signed by its key with SHA-256 or better. The identity comes from
the flags: --name (default: the CSR's common name) and --san (default: the
CSR's DNS names and IP addresses), and is checked against the profile. Writes
NAME.crt and NAME-chain.pem into --out (default DIR/issued).`,
		Example: `  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout web.key -subj /CN=web -out web.csr
  intransit pki sign --csr web.csr --profile server --san web.example.net`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(csrPath)
			if err != nil {
				return fmt.Errorf("read CSR: %w", err)
			}
			csr, err := pki.ParseCSR(b)
			if err != nil {
				return refusalf("%s: %v", csrPath, err)
			}
			if name == "" {
				name = csr.Subject.CommonName
			}
			if p, err := pki.LookupProfile(id.profile); len(id.sans) == 0 && err == nil && p.HostNames {
				id.sans = append(id.sans, csr.DNSNames...)
				for _, ip := range csr.IPAddresses {
					id.sans = append(id.sans, ip.String())
				}
			}
			req, err := id.request(name)
			if err != nil {
				return err
			}
			ca, err := o.openCA(cmd, readWrite)
			if err != nil {
				return err
			}
			defer ca.Close()
			s, err := ca.Sign(cmd.Context(), csr, req)
			if err != nil {
				return pkiError(err)
			}
			is := &pki.Issued{Certificate: s.Certificate, Record: s.Record}
			files, err := pki.WriteIssuedFiles(id.outDir(o), is, s.Intermediate)
			if err != nil {
				return pkiError(err)
			}
			return printIssued(cmd.OutOrStdout(), format, is, files)
		},
	}
	id.add(cmd, "directory for NAME.crt and NAME-chain.pem (default DIR/issued)")
	cmd.Flags().StringVar(&csrPath, "csr", "", "certificate signing request, PEM or DER (required)")
	cmd.Flags().StringVar(&name, "name", "", "name to issue to (default: the CSR's common name)")
	cmd.Flags().Var(&format, "output", "table or json")
	_ = cmd.MarkFlagRequired("csr")
	return cmd
}

// issuedView is what issue and sign print: the certificate, the identity
// a peer's configuration names, and the files written.
type issuedView struct {
	Serial   string    `json:"serial"`
	Name     string    `json:"name"`
	Profile  string    `json:"profile"`
	NotAfter time.Time `json:"not_after"`
	// Identity is the certificate's URI: what a peer's configuration names
	// (remotes[].identity for a gateway).
	Identity string `json:"identity"`
	Key      string `json:"key,omitempty"`
	Cert     string `json:"cert"`
	Chain    string `json:"chain"`
}

// printIssued prints an issued certificate as text or JSON.
func printIssued(w io.Writer, format output.Format, is *pki.Issued, files pki.IssuedFiles) error {
	r := is.Record
	v := issuedView{Serial: pki.FormatSerial(r.Serial), Name: r.Name, Profile: r.Profile, NotAfter: r.NotAfter,
		Key: files.Key, Cert: files.Cert, Chain: files.Chain}
	if len(r.URIs) > 0 {
		v.Identity = r.URIs[0]
	}
	if format == output.JSON {
		return output.WriteJSON(w, v)
	}
	fmt.Fprintf(w, "issued %s certificate %s to %q, valid until %s\n", v.Profile, v.Serial, v.Name, v.NotAfter.Format(time.RFC3339))
	if v.Identity != "" {
		peer := "a peer's configuration names it"
		if v.Profile == pki.ProfileGateway {
			peer = "the other gateway's remotes[].identity"
		}
		fmt.Fprintf(w, "  identity %s (%s)\n", v.Identity, peer)
	}
	if v.Key != "" {
		fmt.Fprintf(w, "  key    %s (0600)\n", v.Key)
	}
	fmt.Fprintf(w, "  cert   %s\n  chain  %s\n", v.Cert, v.Chain)
	return nil
}

func newPKIRevokeCommand(o *pkiOptions) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke SERIAL|NAME",
		Short: "Revoke a certificate by serial number or by name",
		Long: `Revoke a certificate. A name must match exactly one certificate that is not
revoked yet; otherwise give the serial: hex as "pki list" and openssl print
it (any case, colons or not), or decimal. The
revocation is in the next CRL ("pki crl") and in the revocation feed at once.
When a daemon holds the PKI (it serves DIR/admin.sock), the command goes
through it: the daemon signs the new CRL, writes it where its gateways read
it and cuts the peer or laptop within seconds, with no "pki crl".
Reasons: ` + strings.Join(store.ReasonNames(), ", ") + `.`,
		Example: `  intransit pki revoke alice --reason keyCompromise
  intransit pki revoke 5f3a9c0e7d1b2a4c6e8f0a1b2c3d4e5f --reason superseded`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := store.ParseReason(reason)
			if err != nil {
				return refusal(err)
			}
			ca, err := o.openCA(cmd, readWrite)
			if err != nil {
				return err
			}
			defer ca.Close()
			rv, err := ca.Revoke(cmd.Context(), args[0], r)
			if err != nil {
				return pkiError(err)
			}
			c, w := rv.Record, cmd.OutOrStdout()
			fmt.Fprintf(w, "revoked %s (%s, %s) at %s: %s; revocation revision %d\n",
				pki.FormatSerial(c.Serial), c.Name, c.Profile, c.RevokedAt.Format(time.RFC3339), c.Reason, c.Revision)
			switch {
			case rv.CRL != nil && len(rv.Published) > 0:
				fmt.Fprintf(w, "CRL number %d published by the daemon holding the PKI: %s\n", rv.CRL.Number, strings.Join(rv.Published, ", "))
			case rv.CRL != nil:
				fmt.Fprintf(w, "CRL number %d signed by the daemon holding the PKI; it publishes to no file (see its log): run pki crl --out FILE\n", rv.CRL.Number)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", string(store.ReasonUnspecified), "revocation reason")
	_ = cmd.RegisterFlagCompletionFunc("reason", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return store.ReasonNames(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func newPKICRLCommand(o *pkiOptions) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "crl",
		Short: "Sign a new CRL (next CRL number) and write it as DER and PEM",
		Long: `Sign a new certificate revocation list with the next CRL number, listing every
revoked certificate not yet expired, and write it as DER and PEM: --out FILE
writes FILE (DER) and FILE.pem; the default is DIR/crl.der and DIR/crl.pem.
After an intermediate rotation the PEM file is a bundle: the CRL of every
intermediate still valid, each signed by its own key (what the daemon
holding the PKI publishes to identity.crl); the DER file holds the current
intermediate's CRL alone, and each replaced one's is also written beside
them as crl-SERIAL.pem.`,
		Example: `  intransit pki crl
  intransit pki crl --out /var/www/pki/intermediate.crl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := o.openCA(cmd, readWrite)
			if err != nil {
				return err
			}
			defer ca.Close()
			res, err := ca.CRL(cmd.Context())
			if err != nil {
				return pkiError(err)
			}
			c := res.CRL
			der, pemPath := out, out+".pem"
			if out == "" {
				der, pemPath = filepath.Join(o.dir, "crl.der"), filepath.Join(o.dir, "crl.pem")
			}
			if err := atomicfile.Write(der, c.DER, 0o644); err != nil {
				return err
			}
			// The PEM file is the bundle the PKI publishes: with a
			// replaced intermediate still valid, its CRL too.
			if err := atomicfile.Write(pemPath, pki.EncodeCRLFile(pemPath, res.Bundle), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CRL number %d (%d revoked), this update %s, next update %s\n  %s\n  %s\n",
				c.Number, res.Revoked, c.ThisUpdate.Format(time.RFC3339), c.NextUpdate.Format(time.RFC3339), der, pemPath)
			for _, p := range res.Published {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s (published by the daemon holding the PKI)\n", p)
			}
			local, isLocal := ca.(*admin.Local)
			if !isLocal {
				return nil
			}
			prev, err := writePreviousCRLs(cmd, local.CA(), filepath.Dir(pemPath))
			for _, p := range prev {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s (of a replaced intermediate)\n", p)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "DER output file; PEM goes to FILE.pem (default DIR/crl.der, DIR/crl.pem)")
	return cmd
}

// certView is a certificate record as the list and show commands print it.
type certView struct {
	Serial    string     `json:"serial"`
	Name      string     `json:"name"`
	Profile   string     `json:"profile"`
	Status    string     `json:"status"`
	Subject   string     `json:"subject"`
	DNSNames  []string   `json:"dns_names,omitempty"`
	IPs       []string   `json:"ip_addresses,omitempty"`
	URIs      []string   `json:"uris,omitempty"`
	KeyType   string     `json:"key_type"`
	NotBefore time.Time  `json:"not_before"`
	NotAfter  time.Time  `json:"not_after"`
	IssuedAt  time.Time  `json:"issued_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	PEM       string     `json:"pem,omitempty"`
}

func viewOf(c *store.Certificate, now time.Time) certView {
	return certView{
		Serial: pki.FormatSerial(c.Serial), Name: c.Name, Profile: c.Profile, Status: string(c.StatusAt(now)),
		Subject: c.Subject, DNSNames: c.DNSNames, IPs: c.IPAddresses, URIs: c.URIs, KeyType: c.KeyType,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, IssuedAt: c.IssuedAt, RevokedAt: c.RevokedAt, Reason: string(c.Reason),
	}
}

// writeCertList prints records as a table or JSON; pki list and the demo
// share it.
func writeCertList(w io.Writer, format output.Format, recs []*store.Certificate) error {
	now := time.Now()
	views := make([]certView, 0, len(recs))
	for _, c := range recs {
		views = append(views, viewOf(c, now))
	}
	if format == output.JSON {
		return output.WriteJSON(w, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		names := strings.Join(append(append(append([]string{}, v.DNSNames...), v.IPs...), v.URIs...), ",")
		rows = append(rows, []string{v.Serial, v.Name, v.Profile, v.Status, v.NotAfter.Format("2006-01-02"), v.KeyType, names})
	}
	return output.WriteTable(w, []string{"SERIAL", "NAME", "PROFILE", "STATUS", "NOT AFTER", "KEY", "NAMES"}, rows)
}

func newPKIListCommand(o *pkiOptions) *cobra.Command {
	var (
		status, profile, expiring string
		format                    output.Format
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List issued certificates, with filters",
		Example: `  intransit pki list
  intransit pki list --status valid --profile gateway --expiring-within 30d --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := store.Filter{Profile: profile, Now: time.Now()}
			switch store.Status(status) {
			case "", store.StatusValid, store.StatusRevoked, store.StatusExpired:
				f.Status = store.Status(status)
			default:
				return fmt.Errorf("--status %q: want valid, revoked or expired", status)
			}
			if profile != "" {
				if _, err := pki.LookupProfile(profile); err != nil {
					return pkiError(err)
				}
			}
			if expiring != "" {
				d, err := parseDays(expiring)
				if err != nil {
					return fmt.Errorf("--expiring-within: %w", err)
				}
				f.NotAfterBefore = f.Now.Add(d)
				if f.Status == "" {
					f.Status = store.StatusValid
				}
			}
			ca, err := o.openCA(cmd, readOnly)
			if err != nil {
				return err
			}
			defer ca.Close()
			recs, err := ca.List(cmd.Context(), f)
			if err != nil {
				return err
			}
			return writeCertList(cmd.OutOrStdout(), format, recs)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&status, "status", "", "valid, revoked or expired")
	fl.StringVar(&profile, "profile", "", "gateway, server or client")
	fl.StringVar(&expiring, "expiring-within", "", "only certificates that expire within this span, e.g. 30d or 72h (valid ones unless --status says otherwise)")
	fl.Var(&format, "output", "table or json")
	return cmd
}

func newPKIShowCommand(o *pkiOptions) *cobra.Command {
	var format output.Format
	cmd := &cobra.Command{
		Use:   "show SERIAL|NAME",
		Short: "Show certificates by serial number or name, with their PEM",
		Example: `  intransit pki show gw1
  intransit pki show 5f3a9c0e7d1b2a4c6e8f0a1b2c3d4e5f --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ca, err := o.openCA(cmd, readOnly)
			if err != nil {
				return err
			}
			defer ca.Close()
			recs, err := ca.Find(cmd.Context(), args[0])
			if err != nil {
				return pkiError(err)
			}
			now := time.Now()
			views := make([]certView, 0, len(recs))
			for _, c := range recs {
				v := viewOf(c, now)
				v.PEM = string(pemOf(c.DER))
				views = append(views, v)
			}
			w := cmd.OutOrStdout()
			if format == output.JSON {
				return output.WriteJSON(w, views)
			}
			for i, v := range views {
				if i > 0 {
					fmt.Fprintln(w)
				}
				rows := [][]string{
					{"serial", v.Serial}, {"name", v.Name}, {"profile", v.Profile}, {"status", v.Status},
					{"subject", v.Subject}, {"key", v.KeyType},
					{"not before", v.NotBefore.Format(time.RFC3339)}, {"not after", v.NotAfter.Format(time.RFC3339)},
					{"issued at", v.IssuedAt.Format(time.RFC3339)},
				}
				for _, n := range append(append(append([]string{}, v.DNSNames...), v.IPs...), v.URIs...) {
					rows = append(rows, []string{"name", n})
				}
				if v.RevokedAt != nil {
					rows = append(rows, []string{"revoked at", v.RevokedAt.Format(time.RFC3339)}, []string{"reason", v.Reason})
				}
				if err := output.WriteTable(w, []string{"FIELD", "VALUE"}, rows); err != nil {
					return err
				}
				fmt.Fprint(w, v.PEM)
			}
			return nil
		},
	}
	cmd.Flags().Var(&format, "output", "table or json")
	return cmd
}

func newPKIRotateCommand(o *pkiOptions) *cobra.Command {
	var newPassFile, newKeyFile, newKMS string
	cmd := &cobra.Command{
		Use:   "rotate-master",
		Short: "Re-wrap the CA keys' data keys under a new master key",
		Long: `Replace the master key. The current one comes from the usual sources; the new
one from --new-passphrase-file or --new-key-file, or a prompt (asked twice).
--new-kms URI makes the new master key an AES key in a PKCS#11 token; a master
key in a token needs no current secret, and moves back to a passphrase or key
file the same way. Only the data keys are re-wrapped: the CA keys and every
certificate stay as they are. A wrong current secret changes nothing.`,
		Example: `  intransit pki rotate-master --passphrase-file old.txt --new-key-file /etc/intransit/master.key
  intransit pki rotate-master --passphrase-file old.txt --new-kms 'pkcs11:token=intransit;object=master?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/intransit/pin'
  intransit pki rotate-master --new-passphrase-file new.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			old, err := o.masterSecret(cmd, "current PKI master key")
			if err != nil {
				return err
			}
			defer old.Wipe()
			r := pki.MasterRotation{Old: old, NewKMS: newKMS, KDF: keywrap.DefaultKDF()}
			kind := string(keywrap.KindToken)
			if newKMS == "" {
				src := o.secrets(cmd)
				src.keyFile, src.passphraseFile = newKeyFile, newPassFile
				next, err := src.resolve("new PKI master key", true, false)
				if err != nil {
					return err
				}
				defer next.Wipe()
				r.New, kind = next, string(next.Kind())
			} else if newKeyFile != "" || newPassFile != "" {
				return refusalf("give --new-kms or a new key or passphrase file, not both")
			}
			if err := pki.RotateMasterTo(cmd.Context(), o.dir, r); err != nil {
				return pkiError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "master key replaced (%s); %s re-written\n", kind, filepath.Join(o.dir, pki.KeyringFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&newPassFile, "new-passphrase-file", "", "file holding the new passphrase")
	cmd.Flags().StringVar(&newKeyFile, "new-key-file", "", "file holding the new 32-byte master key")
	cmd.Flags().StringVar(&newKMS, "new-kms", "", "make the new master key an AES key in this PKCS#11 token (RFC 7512 URI)")
	return cmd
}

// parseDays parses a Go duration, also accepting a whole number of days
// ("30d").
func parseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 720h or 30d)", s)
	}
	return d, nil
}

func completeKeyTypes(cmd *cobra.Command, flags ...string) {
	for _, f := range flags {
		_ = cmd.RegisterFlagCompletionFunc(f, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			var out []string
			for _, k := range pki.KeyTypes() {
				out = append(out, string(k))
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		})
	}
}

func pemOf(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }
