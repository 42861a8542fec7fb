package renewal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"intransit/pki"
	"intransit/tlspolicy"
)

// Path is the renewal API's path.
const Path = "/pki/v1/renew"

// maxBody bounds a request body.
const maxBody = 64 << 10

// Request is the body of a renewal.
type Request struct {
	// CSR is the PEM certificate signing request for the new key.
	CSR string `json:"csr"`
}

// Answer is a renewal done.
type Answer struct {
	// Chain is the new certificate followed by its intermediate (PEM).
	Chain string `json:"chain"`
	// NotAfter is when it expires.
	NotAfter time.Time `json:"not_after"`
}

// refusal is the error body.
type refusal struct {
	Message string `json:"error"`
}

// Signer issues the successor of a certificate; *pki.CA implements it.
// Renew refuses (pki.IsRefusal) a certificate the CA did not issue, a
// revoked or expired one, one that differs from its record, and one of a
// profile that does not renew here; Intermediate is the CA certificate
// that signs the successors. Both are safe for concurrent use.
type Signer interface {
	Renew(ctx context.Context, leaf *x509.Certificate, csr *x509.CertificateRequest) (*pki.Issued, error)
	Intermediate() *x509.Certificate
}

// Defaults of the handler's signing bound.
const (
	maxSigning = 4
	maxWait    = 5 * time.Second
)

// Handler serves POST Path with s. Mount it on a listener configured by
// ServerConfig, which has the client prove it holds the certificate it
// presents; the handler has s judge that certificate. At most four
// signatures run at once; a request that waits five seconds for a slot
// is refused with 503.
func Handler(s Signer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	slots := make(chan struct{}, maxSigning)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Path, func(w http.ResponseWriter, r *http.Request) {
		status, ans, err := serve(r, s, slots, log)
		if err != nil {
			log.Warn("certificate renewal refused", "remote_addr", r.RemoteAddr, "status", status, "error", err.Error())
			writeJSON(w, status, refusal{Message: err.Error()})
			return
		}
		log.Info("certificate renewed over the renewal API", "remote_addr", r.RemoteAddr, "not_after", ans.NotAfter)
		writeJSON(w, http.StatusOK, ans)
	})
	return mux
}

func serve(r *http.Request, s Signer, slots chan struct{}, log *slog.Logger) (int, *Answer, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return http.StatusForbidden, nil, errors.New("renewal needs the current certificate as the client certificate (mTLS)")
	}
	var req Request
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return http.StatusBadRequest, nil, fmt.Errorf("request body: %w", err)
	}
	csr, err := pki.ParseCSR([]byte(req.CSR))
	if err != nil {
		return http.StatusBadRequest, nil, err
	}
	wait, cancel := context.WithTimeout(r.Context(), maxWait)
	defer cancel()
	select {
	case slots <- struct{}{}:
	case <-wait.Done():
		return http.StatusServiceUnavailable, nil, errors.New("the CA is busy signing; try again later")
	}
	defer func() { <-slots }()
	is, err := s.Renew(r.Context(), r.TLS.PeerCertificates[0], csr)
	if pki.IsRefusal(err) {
		return http.StatusForbidden, nil, err
	}
	if err != nil {
		// The cause (a token gone, the store unreachable) stays here.
		log.Error("certificate renewal: the CA could not sign", "remote_addr", r.RemoteAddr, "error", err.Error())
		return http.StatusInternalServerError, nil, errors.New("the CA could not sign")
	}
	return 0, &Answer{Chain: string(chainPEM(is.Certificate, s.Intermediate())), NotAfter: is.Certificate.NotAfter}, nil
}

func chainPEM(leaf, inter *x509.Certificate) []byte {
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ServerConfig is the TLS configuration of the renewal listener: o's
// profile and certificate, and a client certificate required, whose key
// the client proves it holds in the handshake. The certificate itself is
// judged by the Signer (chain to the CA, record, revocation) rather than
// by o.CAs: a server certificate, which a TLS proxy renews, carries no
// clientAuth usage. o.CAs, o.Revocation and o.Allow are ignored.
func ServerConfig(o tlspolicy.Options) (*tls.Config, error) {
	o.CAs, o.Revocation, o.Allow = nil, nil, tlspolicy.Identity{}
	cfg, err := tlspolicy.ServerConfig(o)
	if err != nil {
		return nil, fmt.Errorf("renewal listener: %w", err)
	}
	// The per-connection configurations are clones of cfg.
	cfg.ClientAuth = tls.RequireAnyClientCert
	return cfg, nil
}
