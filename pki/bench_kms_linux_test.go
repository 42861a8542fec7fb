package pki_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/internal/testutil/softhsmtest"
	"intransit/pki"
	"intransit/pki/keywrap"
)

// BenchmarkSignCSRKeyPlace measures durable issuances per second with the
// intermediate key (ECDSA P-256) wrapped in the keyring (key=file) beside
// the same with the key inside a SoftHSM2 token (key=softhsm), in one run:
// the cost of signing through PKCS#11. One caller, then 16 concurrent
// callers. Run it with bench/pki-kms.sh.
func BenchmarkSignCSRKeyPlace(b *testing.B) {
	ctx := context.Background()
	for _, place := range []string{"file", "softhsm"} {
		for _, callers := range []int{1, 16} {
			b.Run(fmt.Sprintf("key=%s/callers=%d", place, callers), func(b *testing.B) {
				var ca *pki.CA
				if place == "file" {
					ca = pkitest.NewCA(b, pki.InitOptions{})
				} else {
					tok := softhsmtest.New(b)
					var err error
					ca, err = pki.Init(ctx, pki.InitOptions{
						Dir:             filepath.Join(b.TempDir(), "pki"),
						IntermediateKMS: tok.URI.WithObject("bench-intermediate").String(),
						Secret:          keywrap.Passphrase([]byte(pkitest.Passphrase)), KDF: pkitest.FastKDF(),
					})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { _ = ca.Close() })
				}
				csr := benchCSR(b)
				var n atomic.Int64
				req := func() pki.Request {
					return pki.Request{Profile: pki.ProfileClient, Name: fmt.Sprintf("c%d", n.Add(1))}
				}
				b.ResetTimer()
				cpu0 := cpuTime(b)
				if callers == 1 {
					for b.Loop() {
						if _, err := ca.SignCSR(ctx, csr, req()); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism((callers + 1) / 2)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := ca.SignCSR(ctx, csr, req()); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				reportRate(b, cpu0)
			})
		}
	}
}
