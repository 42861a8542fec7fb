package main

import (
	"fmt"
	"io"
	"time"

	"intransit/internal/status"
)

// writeCertificates prints one line per certificate the daemon depends on,
// and a warning line for each that needs attention.
func writeCertificates(w io.Writer, certs []status.Certificate) {
	for _, c := range certs {
		renew := "not renewed automatically"
		if !c.RenewAt.IsZero() {
			renew = "renews " + c.RenewAt.UTC().Format(time.RFC3339)
			if c.Renewals > 0 {
				renew += fmt.Sprintf(", renewed %d times", c.Renewals)
			}
		}
		fmt.Fprintf(w, "cert      %-16s %-8s until %s, %s, serial %s\n", c.Name, c.State, c.NotAfter.UTC().Format(time.RFC3339), renew, c.Serial)
	}
	for _, c := range certs {
		if c.Warning != "" {
			fmt.Fprintf(w, "WARNING   %s\n", c.Warning)
		}
	}
}

// writeCRLPublisher prints which gateway of a fleet on etcd publishes the
// CRL; nothing on a gateway without the CA on a shared store (p nil).
func writeCRLPublisher(w io.Writer, p *status.CRLPublisher) {
	switch {
	case p == nil:
	case p.Error != "":
		fmt.Fprintf(w, "crl publisher: unknown (%s)\n", p.Error)
	case p.Self:
		fmt.Fprintln(w, "crl publisher: this gateway (elected)")
	case p.Elected != "":
		fmt.Fprintf(w, "crl publisher: %s (elected)\n", p.Elected)
	default:
		fmt.Fprintln(w, "crl publisher: not elected yet")
	}
}
