// Package crlsource implements tlspolicy.CRLSource for the places a CRL
// lives: a file, an HTTP(S) URL, or an http.Handler in the same process
// (such as the PKI's CRL endpoint).
package crlsource

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// maxCRL bounds the size of a fetched CRL.
const maxCRL = 64 << 20

// File reads the CRL from a file on every fetch.
type File struct {
	// Path is the CRL file (DER or PEM).
	Path string
}

// FetchCRL reads the file.
func (f *File) FetchCRL(context.Context) ([]byte, error) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("read CRL file: %w", err)
	}
	return data, nil
}

// URL downloads the CRL with an HTTP GET.
type URL struct {
	// URL is where the CRL is published.
	URL string
	// Client makes the request; nil means http.DefaultClient.
	Client *http.Client
}

// FetchCRL downloads the CRL; any status but 200 is an error.
func (u *URL) FetchCRL(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("CRL URL %s: %w", u.URL, err)
	}
	client := u.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch CRL: %w", err)
	}
	defer resp.Body.Close()
	return readResponse(u.URL, resp.StatusCode, resp.Body)
}

// Handler asks an http.Handler in the same process for the CRL, as if it
// were fetched from Path.
type Handler struct {
	// Handler serves the CRL.
	Handler http.Handler
	// Path is the request path, such as /crl.
	Path string
}

// FetchCRL calls the handler with a GET request for Path.
func (h *Handler) FetchCRL(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.Path, nil)
	if err != nil {
		return nil, fmt.Errorf("CRL handler path %s: %w", h.Path, err)
	}
	w := &recorder{header: http.Header{}}
	h.Handler.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return readResponse(h.Path, w.status, &w.body)
}

func readResponse(where string, status int, body io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxCRL+1))
	if err != nil {
		return nil, fmt.Errorf("read CRL from %s: %w", where, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("CRL from %s: status %d: %s", where, status, strings.TrimSpace(string(data[:min(len(data), 200)])))
	}
	if len(data) > maxCRL {
		return nil, fmt.Errorf("CRL from %s is larger than %d bytes", where, maxCRL)
	}
	return data, nil
}

// recorder is the http.ResponseWriter a Handler source gives its handler.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

// Header returns the response headers.
func (r *recorder) Header() http.Header { return r.header }

// WriteHeader records the first status set.
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

// Write collects the body.
func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}
