package main

import (
	"bytes"
	"strings"
	"testing"

	"intransit/internal/status"
)

// TestStatusShowsCRLPublisher: a gateway holding the CA on etcd says which
// gateway is the elected CRL publisher; one without says nothing.
func TestStatusShowsCRLPublisher(t *testing.T) {
	for _, tc := range []struct {
		pub  *status.CRLPublisher
		want string
	}{
		{nil, ""},
		{&status.CRLPublisher{Self: true, Elected: "gw1/10"}, "crl publisher: this gateway (elected)\n"},
		{&status.CRLPublisher{Elected: "gw2/20"}, "crl publisher: gw2/20 (elected)\n"},
		{&status.CRLPublisher{}, "crl publisher: not elected yet\n"},
		{&status.CRLPublisher{Error: "context deadline exceeded"}, "crl publisher: unknown (context deadline exceeded)\n"},
	} {
		var b bytes.Buffer
		if err := writeStatus(&b, &status.Report{CRLPublisher: tc.pub}); err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, l := range strings.SplitAfter(b.String(), "\n") {
			if strings.HasPrefix(l, "crl publisher") {
				got += l
			}
		}
		if got != tc.want {
			t.Errorf("publisher %+v: %q, want %q", tc.pub, got, tc.want)
		}
	}
}
