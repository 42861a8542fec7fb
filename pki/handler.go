package pki

import (
	"errors"
	"net/http"
	"strconv"

	"intransit/pki/store"
)

// Handler serves the CA's public material over HTTP, for mounting under any
// prefix (strip it with http.StripPrefix):
//
//	GET /ca.pem    intermediate and root certificates (PEM)
//	GET /root.pem  the root certificate (PEM)
//	GET /crl       the CRL at the CA's crl_url (DER, application/pkix-crl):
//	               the current intermediate's, or after a rotation that of
//	               the first intermediate, whose leaves carry crl_url
//	GET /crl.pem   the same as PEM
//	GET /crl/{serial}  the CRL of the intermediate with that serial (hex as
//	               FormatSerial prints it), where leaves issued after a
//	               rotation point
//	GET /root.crl  the root's CRL of its intermediates (DER)
//
// The CRL is re-signed when a revocation happened since the last one or
// half its validity has passed.
func (ca *CA) Handler() http.Handler {
	mux := http.NewServeMux()
	serve := func(w http.ResponseWriter, ctype string, body []byte) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}
	mux.HandleFunc("GET /ca.pem", func(w http.ResponseWriter, r *http.Request) {
		serve(w, "application/x-pem-file", ca.Bundle())
	})
	mux.HandleFunc("GET /root.pem", func(w http.ResponseWriter, r *http.Request) {
		serve(w, "application/x-pem-file", pemCert(ca.root))
	})
	crl := func(pemForm bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var (
				c   *store.CRL
				err error
			)
			if sn := r.PathValue("serial"); sn != "" {
				c, err = ca.CRLOf(r.Context(), sn)
				if errors.Is(err, store.ErrNotFound) {
					http.NotFound(w, r)
					return
				}
			} else {
				c, err = ca.crlAtURL(r.Context())
			}
			if err != nil {
				ca.log.Error("serve CRL", "err", err)
				http.Error(w, "CRL unavailable", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Last-Modified", c.ThisUpdate.UTC().Format(http.TimeFormat))
			w.Header().Set("Expires", c.NextUpdate.UTC().Format(http.TimeFormat))
			if pemForm {
				serve(w, "application/x-pem-file", PEMCRL(c.DER))
				return
			}
			serve(w, "application/pkix-crl", c.DER)
		}
	}
	mux.HandleFunc("GET /root.crl", func(w http.ResponseWriter, r *http.Request) {
		der, err := ca.RootCRL()
		if err != nil {
			ca.log.Error("serve root CRL", "err", err)
			http.Error(w, "root CRL unavailable", http.StatusServiceUnavailable)
			return
		}
		serve(w, "application/pkix-crl", der)
	})
	mux.HandleFunc("GET /crl", crl(false))
	mux.HandleFunc("GET /crl.pem", crl(true))
	mux.HandleFunc("GET /crl/{serial}", crl(false))
	return mux
}
