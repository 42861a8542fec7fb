package admin

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"intransit/pki"
	"intransit/pki/store"
)

// Paths of the admin socket's endpoints; every one takes a JSON POST.
const (
	PathRevoke = "/pki/v1/revoke"
	PathCRL    = "/pki/v1/crl"
	PathList   = "/pki/v1/list"
	PathFind   = "/pki/v1/find"
	PathSign   = "/pki/v1/sign"
)

const (
	// maxBody bounds a request and an answer (a list of many records).
	maxRequest = 1 << 20
	maxAnswer  = 64 << 20
	// requestTimeout bounds one call.
	requestTimeout = 30 * time.Second
)

type revokeRequest struct {
	Ref    string       `json:"ref"`
	Reason store.Reason `json:"reason"`
}

type refRequest struct {
	Ref string `json:"ref"`
}

type listRequest struct {
	Name           string       `json:"name,omitempty"`
	Profile        string       `json:"profile,omitempty"`
	Status         store.Status `json:"status,omitempty"`
	NotAfterBefore time.Time    `json:"not_after_before"`
	Now            time.Time    `json:"now"`
}

type records struct {
	Records []*store.Certificate `json:"records"`
}

type signRequest struct {
	CSR         []byte        `json:"csr"`
	Profile     string        `json:"profile"`
	Name        string        `json:"name"`
	DNSNames    []string      `json:"dns_names,omitempty"`
	IPAddresses []string      `json:"ip_addresses,omitempty"`
	TTL         time.Duration `json:"ttl"`
}

type signAnswer struct {
	Record       *store.Certificate `json:"record"`
	Intermediate []byte             `json:"intermediate"`
}

// failure is the body of an answer other than 200: Refusal says the CA
// refused on purpose (the CLI exits 1), else the operation could not run.
type failure struct {
	Refusal bool   `json:"refusal"`
	Error   string `json:"error"`
}

// Handler serves ca's operations. Mount it only on a root-only unix socket
// (Listen): whoever reaches it can revoke and issue.
func Handler(ca CA, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	handle := func(path string, req func() any, op func(context.Context, any) (any, error)) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			in := req()
			dec := json.NewDecoder(io.LimitReader(r.Body, maxRequest))
			dec.DisallowUnknownFields()
			if err := dec.Decode(in); err != nil {
				writeJSON(w, http.StatusBadRequest, failure{Refusal: true, Error: fmt.Sprintf("request body: %v", err)})
				return
			}
			out, err := op(r.Context(), in)
			switch {
			case pki.IsRefusal(err):
				writeJSON(w, http.StatusConflict, failure{Refusal: true, Error: err.Error()})
			case err != nil:
				log.Error("pki admin request failed", "path", path, "error", err.Error())
				writeJSON(w, http.StatusInternalServerError, failure{Error: err.Error()})
			default:
				writeJSON(w, http.StatusOK, out)
			}
		})
	}
	handle(PathRevoke, func() any { return &revokeRequest{} }, func(ctx context.Context, in any) (any, error) {
		req := in.(*revokeRequest)
		if _, err := store.ParseReason(string(req.Reason)); err != nil {
			return nil, &pki.Refusal{Rule: err.Error()}
		}
		return ca.Revoke(ctx, req.Ref, req.Reason)
	})
	handle(PathCRL, func() any { return &struct{}{} }, func(ctx context.Context, _ any) (any, error) {
		return ca.CRL(ctx)
	})
	handle(PathList, func() any { return &listRequest{} }, func(ctx context.Context, in any) (any, error) {
		req := in.(*listRequest)
		recs, err := ca.List(ctx, store.Filter{Name: req.Name, Profile: req.Profile, Status: req.Status, NotAfterBefore: req.NotAfterBefore, Now: req.Now})
		return records{Records: recs}, err
	})
	handle(PathFind, func() any { return &refRequest{} }, func(ctx context.Context, in any) (any, error) {
		recs, err := ca.Find(ctx, in.(*refRequest).Ref)
		return records{Records: recs}, err
	})
	handle(PathSign, func() any { return &signRequest{} }, func(ctx context.Context, in any) (any, error) {
		req := in.(*signRequest)
		csr, err := x509.ParseCertificateRequest(req.CSR)
		if err != nil {
			return nil, &pki.Refusal{Rule: fmt.Sprintf("the CSR does not parse: %v", err)}
		}
		pr := pki.Request{Profile: req.Profile, Name: req.Name, DNSNames: req.DNSNames, TTL: req.TTL}
		for _, s := range req.IPAddresses {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, &pki.Refusal{Rule: fmt.Sprintf("%q is not an IP address", s)}
			}
			pr.IPAddresses = append(pr.IPAddresses, ip)
		}
		s, err := ca.Sign(ctx, csr, pr)
		if err != nil {
			return nil, err
		}
		return signAnswer{Record: s.Record, Intermediate: s.Intermediate.Raw}, nil
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve answers on ln (from Listen) until ctx ends, then closes it.
func Serve(ctx context.Context, ln net.Listener, ca CA, log *slog.Logger) error {
	srv := &http.Server{Handler: Handler(ca, log), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: requestTimeout,
		WriteTimeout: 2 * requestTimeout, MaxHeaderBytes: 16 << 10}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("pki admin socket: %w", err)
	}
	return nil
}
