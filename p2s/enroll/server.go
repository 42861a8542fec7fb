// Package enroll is point-to-site enrollment: one-time tokens, the HTTPS
// API through which a laptop trades a token and a CSR for a client
// certificate, renewal over mTLS, and the laptop's side of both.
//
// A token ("itp1.<id>.<secret>.<pin>") is single use and expires; the
// gateway stores only the SHA-256 of its secret. The pin is SHA-256 of the
// CA's root certificate: the laptop fetches the CA bundle, checks it
// against the pin, and only then sends the token and its CSR over TLS
// verified against that CA. Its private key never leaves the laptop.
//
//	GET  /p2s/v1/ca      the CA bundle (PEM); public
//	POST /p2s/v1/enroll  {"token", "csr"} -> Enrolled; the enrollment listener
//	POST /p2s/v1/renew   {"csr"} -> Enrolled; the renewal listener (mTLS: the
//	                     client's current certificate names it)
//
// Refusals are JSON {"reason", "error"} with HTTP 400 (bad input), 403
// (token refused) or 500, and a stable reason code.
package enroll

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"time"

	"intransit/p2s"
	"intransit/pki"
)

// API paths.
const (
	PathCA     = "/p2s/v1/ca"
	PathEnroll = "/p2s/v1/enroll"
	PathRenew  = "/p2s/v1/renew"
)

// Reasons of refusals, stable codes in the API and logs.
const (
	ReasonTokenMalformed = "token_malformed"
	ReasonTokenUnknown   = "token_unknown"
	ReasonTokenExpired   = "token_expired"
	ReasonTokenUsed      = "token_used"
	ReasonTokenInvalid   = "token_invalid"
	ReasonCSRInvalid     = "csr_invalid"
	ReasonCSRRefused     = "csr_refused"
	ReasonNotEnrolled    = "not_enrolled"
	ReasonBadRequest     = "bad_request"
	ReasonInternal       = "internal"
	// ReasonStoreUnreachable: the gateway cannot reach the shared store,
	// so it cannot record the enrollment (HTTP 503: another gateway may).
	ReasonStoreUnreachable = "store_unreachable"
)

// maxBody bounds a request body.
const maxBody = 64 << 10

// Request is the body of an enrollment or renewal.
type Request struct {
	// Token is the one-time token (enrollment only).
	Token string `json:"token,omitempty"`
	// CSR is the PEM certificate signing request.
	CSR string `json:"csr"`
}

// Enrolled is the answer to an enrollment or renewal.
type Enrolled struct {
	// Name and Group are the client's name and policy group.
	Name  string `json:"name"`
	Group string `json:"group"`
	// Identity is the client's URI identity.
	Identity string `json:"identity"`
	// Chain is the client certificate followed by the intermediate (PEM).
	Chain string `json:"chain"`
	// CA is the CA bundle to trust (PEM).
	CA string `json:"ca"`
	// NotAfter is when the certificate expires.
	NotAfter time.Time `json:"not_after"`
	// ControlPort and RenewPort are the gateway's point-to-site control
	// channel and renewal ports, on the host the client enrolled at.
	ControlPort uint16 `json:"control_port"`
	RenewPort   uint16 `json:"renew_port"`
	// Gateways are the hosts of every gateway that serves the client with
	// the same ports (several share one store); absent when only the
	// gateway enrolled at does. A client moves to another when its
	// gateway is gone.
	Gateways []string `json:"gateways,omitempty"`
}

// Refusal is the error body of the API.
type Refusal struct {
	// Reason is a stable code (the Reason constants).
	Reason string `json:"reason"`
	// Message says what exactly was wrong.
	Message string `json:"error"`
	// Status is the HTTP status.
	Status int `json:"-"`
}

// Error implements error: the reason code and what was wrong.
func (r *Refusal) Error() string { return r.Reason + ": " + r.Message }

func refuse(status int, reason, format string, args ...any) *Refusal {
	return &Refusal{Status: status, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Server issues tokens and serves the enrollment API.
type Server struct {
	// Store keeps the tokens and the client records.
	Store p2s.Store
	// Authority signs the certificates.
	Authority Authority
	// Groups are the groups a token may name.
	Groups []string
	// ClientTTL is the lifetime of client certificates (the PKI client
	// profile's default when 0).
	ClientTTL time.Duration
	// ControlPort and RenewPort are told to enrolling clients.
	ControlPort, RenewPort uint16
	// Gateways are told to enrolling clients (Enrolled.Gateways).
	Gateways []string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives one line per enrollment and refusal; nil discards.
	Logger *slog.Logger
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Invite creates a one-time token for client name in group, valid for ttl
// (DefaultTokenTTL when 0), and returns its text: the only time the secret
// exists outside the laptop that redeems it.
func (s *Server) Invite(ctx context.Context, name, group string, ttl time.Duration) (string, p2s.Token, error) {
	if err := pki.CheckName(name); err != nil {
		return "", p2s.Token{}, fmt.Errorf("client name %w", err)
	}
	if !slices.Contains(s.Groups, group) {
		return "", p2s.Token{}, fmt.Errorf("group %q is not configured (groups: %v)", group, s.Groups)
	}
	if s.Authority == nil {
		return "", p2s.Token{}, errors.New("enrollment is not configured on this gateway (p2s.pki, p2s.enroll)")
	}
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if ttl < 0 || ttl > MaxTokenTTL {
		return "", p2s.Token{}, fmt.Errorf("token lifetime %s: want more than 0 and at most %s", ttl, MaxTokenTTL)
	}
	_, root, err := s.Authority.CA(ctx)
	if err != nil {
		return "", p2s.Token{}, err
	}
	tt, err := newTokenText(root.Raw)
	if err != nil {
		return "", p2s.Token{}, fmt.Errorf("token: %w", err)
	}
	now := s.now().UTC()
	tok := p2s.Token{ID: tt.ID, SecretHash: tt.SecretHash(), Name: name, Group: group, Created: now, Expires: now.Add(ttl)}
	if err := s.Store.PutToken(ctx, tok); err != nil {
		return "", p2s.Token{}, fmt.Errorf("store token: %w", err)
	}
	s.log().Info("p2s invitation created", "client", name, "group", group, "token_id", tt.ID, "expires", tok.Expires)
	return tt.String(), tok, nil
}

// Handler serves GET PathCA and POST PathEnroll.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathCA, s.serveCA)
	mux.HandleFunc("POST "+PathEnroll, func(w http.ResponseWriter, r *http.Request) {
		s.answer(w, r, "enroll", s.enroll)
	})
	return mux
}

// RenewHandler serves POST PathRenew; mount it on a listener whose TLS
// configuration requires and verifies client certificates (mTLS, with
// revocation), so that the caller's certificate is trusted.
func (s *Server) RenewHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathRenew, func(w http.ResponseWriter, r *http.Request) {
		s.answer(w, r, "renew", s.renew)
	})
	return mux
}

func (s *Server) serveCA(w http.ResponseWriter, r *http.Request) {
	bundle, _, err := s.Authority.CA(r.Context())
	if err != nil {
		s.log().Error("p2s enrollment: CA unavailable", "error", err.Error())
		writeJSON(w, http.StatusInternalServerError, refuse(http.StatusInternalServerError, ReasonInternal, "the CA is unavailable"))
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(bundle)
}

// answer decodes the request, runs op and writes its result or refusal.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, what string, op func(context.Context, *http.Request, *Request) (*Enrolled, error)) {
	var req Request
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	var err error
	var out *Enrolled
	if derr := dec.Decode(&req); derr != nil {
		err = refuse(http.StatusBadRequest, ReasonBadRequest, "request body: %v", derr)
	} else {
		out, err = op(r.Context(), r, &req)
	}
	if err != nil {
		var ref *Refusal
		if errors.Is(err, p2s.ErrUnreachable) {
			ref = refuse(http.StatusServiceUnavailable, ReasonStoreUnreachable, "%v", err)
		}
		if ref == nil && !errors.As(err, &ref) {
			s.log().Error("p2s "+what+" failed", "remote_addr", r.RemoteAddr, "error", err.Error())
			ref = refuse(http.StatusInternalServerError, ReasonInternal, "the gateway could not complete the request")
		}
		s.log().Warn("p2s "+what+" refused", "remote_addr", r.RemoteAddr, "reason", ref.Reason, "detail", ref.Message)
		writeJSON(w, ref.Status, ref)
		return
	}
	s.log().Info("p2s "+what, "client", out.Name, "group", out.Group, "remote_addr", r.RemoteAddr, "not_after", out.NotAfter)
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// enroll redeems a token and signs the CSR.
func (s *Server) enroll(ctx context.Context, _ *http.Request, req *Request) (*Enrolled, error) {
	tt, err := ParseToken(req.Token)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, ReasonTokenMalformed, "%v", err)
	}
	csr, err := parseCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	now := s.now()
	check := func(t p2s.Token) error {
		switch {
		case !tt.MatchesHash(t.SecretHash):
			return refuse(http.StatusForbidden, ReasonTokenInvalid, "the token's secret does not match")
		case !t.Used.IsZero():
			return refuse(http.StatusForbidden, ReasonTokenUsed, "the token was already used at %s", t.Used.Format(time.RFC3339))
		case !now.Before(t.Expires):
			return refuse(http.StatusForbidden, ReasonTokenExpired, "the token expired at %s", t.Expires.Format(time.RFC3339))
		}
		return nil
	}
	// Checked first and spent only once the certificate exists, so that a
	// failure in between leaves the token usable. Two laptops racing with
	// one token may both get a certificate signed; only the one that spends
	// the token receives it and is recorded.
	tok, err := s.Store.Token(ctx, tt.ID)
	if errors.Is(err, p2s.ErrNotFound) {
		return nil, refuse(http.StatusForbidden, ReasonTokenUnknown, "no such token (id %s)", tt.ID)
	}
	if err != nil {
		return nil, err
	}
	if err := check(tok); err != nil {
		return nil, err
	}
	out, err := s.sign(ctx, csr, tok.Name, tok.Group)
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.RedeemToken(ctx, tt.ID, now.UTC(), check, pki.FormatSerial(out.serial)); err != nil {
		return nil, err
	}
	return &out.Enrolled, nil
}

// renew signs a CSR for the client the verified TLS certificate names.
func (s *Server) renew(ctx context.Context, r *http.Request, req *Request) (*Enrolled, error) {
	if req.Token != "" {
		return nil, refuse(http.StatusBadRequest, ReasonBadRequest, "a renewal carries no token")
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, refuse(http.StatusForbidden, ReasonNotEnrolled, "renewal needs the client's current certificate (mTLS)")
	}
	leaf := r.TLS.PeerCertificates[0]
	name := leaf.Subject.CommonName
	c, err := s.Store.Client(ctx, name)
	if errors.Is(err, p2s.ErrNotFound) {
		return nil, refuse(http.StatusForbidden, ReasonNotEnrolled, "client %q did not enroll with this gateway", name)
	}
	if err != nil {
		return nil, err
	}
	// Serials recorded before serials kept their leading zeros compare by
	// value.
	if !slices.ContainsFunc(c.Serials, func(s string) bool {
		n, err := pki.ParseSerial(s)
		return err == nil && n.Cmp(leaf.SerialNumber) == 0
	}) {
		return nil, refuse(http.StatusForbidden, ReasonNotEnrolled, "certificate %s was not issued through this gateway's enrollment", pki.FormatSerial(leaf.SerialNumber))
	}
	csr, err := parseCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	out, err := s.sign(ctx, csr, c.Name, c.Group)
	if err != nil {
		return nil, err
	}
	c.Serials = append(c.Serials, pki.FormatSerial(out.serial))
	if err := s.Store.PutClient(ctx, c); err != nil {
		return nil, err
	}
	return &out.Enrolled, nil
}

// issued is a signed certificate with its serial.
type issued struct {
	Enrolled
	serial *big.Int
}

func parseCSR(text string) (*x509.CertificateRequest, error) {
	csr, err := pki.ParseCSR([]byte(text))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, ReasonCSRInvalid, "%v", err)
	}
	// Checked before the token is spent; the CA checks again when signing.
	if err := csr.CheckSignature(); err != nil {
		return nil, refuse(http.StatusBadRequest, ReasonCSRInvalid, "the CSR's signature does not verify: %v", err)
	}
	prof, err := pki.LookupProfile(pki.ProfileClient)
	if err != nil {
		return nil, err
	}
	if err := prof.Keys.Check(csr.PublicKey); err != nil {
		return nil, refuse(http.StatusBadRequest, ReasonCSRRefused, "the CSR's key (%s) is refused: %v", pki.DescribeKey(csr.PublicKey), err)
	}
	return csr, nil
}

// sign has the CSR signed; a CA policy refusal (a weak key) is a refusal.
func (s *Server) sign(ctx context.Context, csr *x509.CertificateRequest, name, group string) (*issued, error) {
	sg, err := s.Authority.SignClient(ctx, csr, name, s.ClientTTL)
	if pki.IsRefusal(err) {
		return nil, refuse(http.StatusBadRequest, ReasonCSRRefused, "%v", err)
	}
	if err != nil {
		return nil, err
	}
	bundle, _, err := s.Authority.CA(ctx)
	if err != nil {
		return nil, err
	}
	return &issued{Enrolled: Enrolled{Name: name, Group: group, Identity: sg.Identity, Chain: string(sg.Chain), CA: string(bundle),
		NotAfter: sg.Certificate.NotAfter, ControlPort: s.ControlPort, RenewPort: s.RenewPort, Gateways: s.Gateways}, serial: sg.Certificate.SerialNumber}, nil
}
