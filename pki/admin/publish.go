package admin

import (
	"context"
	"strings"

	"intransit/internal/atomicfile"
	"intransit/pki"
	"intransit/pki/store"
)

// CRLFiles publishes CRLs by writing them to files, each replaced
// atomically (PEM when its name ends in .pem, else DER), and then calling
// Then, if set, so that the gateways reading them re-read them now rather
// than at their next refresh.
type CRLFiles struct {
	// Paths are the files to write.
	Paths []string
	// Then runs after the files are written.
	Then func(ctx context.Context) error
}

// PublishCRL implements Publisher.
func (f *CRLFiles) PublishCRL(ctx context.Context, crl *store.CRL) ([]string, error) {
	var done []string
	for _, p := range f.Paths {
		data := crl.DER
		if strings.HasSuffix(p, ".pem") {
			data = pki.PEMCRL(crl.DER)
		}
		if err := atomicfile.Write(p, data, 0o644); err != nil {
			return done, err
		}
		done = append(done, p)
	}
	if f.Then != nil {
		if err := f.Then(ctx); err != nil {
			return done, err
		}
	}
	return done, nil
}
