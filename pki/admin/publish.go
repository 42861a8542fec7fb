package admin

import (
	"context"

	"intransit/internal/atomicfile"
	"intransit/pki"
	"intransit/pki/store"
)

// CRLFiles publishes CRLs by writing them to files, each replaced
// atomically (see pki.EncodeCRLFile: PEM when its name ends in .pem or it
// holds several CRLs, else DER), and then calling Then, if set, so that
// the gateways reading them re-read them now rather than at their next
// refresh.
type CRLFiles struct {
	// Paths are the files to write.
	Paths []string
	// CA, when set, is the CA whose CRL is published: the files then also
	// hold the CRLs of the intermediates a rotation replaced that are
	// still valid (pki.CA.PublishedCRLs).
	CA *pki.CA
	// Then runs after the files are written.
	Then func(ctx context.Context) error
}

// PublishCRL implements Publisher.
func (f *CRLFiles) PublishCRL(ctx context.Context, crl *store.CRL) ([]string, error) {
	crls := [][]byte{crl.DER}
	if f.CA != nil {
		var err error
		if crls, err = f.CA.PublishedCRLs(ctx, crl); err != nil {
			return nil, err
		}
	}
	var done []string
	for _, p := range f.Paths {
		if err := atomicfile.Write(p, pki.EncodeCRLFile(p, crls), 0o644); err != nil {
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
