package crlsource

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSources(t *testing.T) {
	crl := []byte("-----BEGIN X509 CRL-----\nnot checked here\n-----END X509 CRL-----\n")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /crl", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(crl) })
	mux.HandleFunc("GET /gone", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no CRL here", http.StatusGone) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "ca.crl")
	if err := os.WriteFile(path, crl, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name string
		src  interface {
			FetchCRL(context.Context) ([]byte, error)
		}
		want string // error fragment; empty: must return crl
	}{
		{"file", &File{Path: path}, ""},
		{"missing file", &File{Path: path + ".missing"}, "ca.crl.missing"},
		{"URL", &URL{URL: srv.URL + "/crl"}, ""},
		{"URL with error status", &URL{URL: srv.URL + "/gone"}, "status 410: no CRL here"},
		{"bad URL", &URL{URL: "://nope"}, "CRL URL"},
		{"handler", &Handler{Handler: mux, Path: "/crl"}, ""},
		{"handler with error status", &Handler{Handler: mux, Path: "/gone"}, "status 410"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.src.FetchCRL(ctx)
			if tt.want == "" {
				if err != nil || !bytes.Equal(got, crl) {
					t.Fatalf("FetchCRL = %q, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestURLHonoursContext(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&URL{URL: srv.URL}).FetchCRL(ctx); err == nil {
		t.Fatal("a cancelled fetch succeeded")
	}
}
