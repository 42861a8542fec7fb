package bolt

import (
	"path/filepath"
	"testing"

	"intransit/p2s"
	"intransit/p2s/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Backend{New: func(t *testing.T) func() p2s.Store {
		path := filepath.Join(t.TempDir(), FileName)
		return func() p2s.Store { return open(t, path) }
	}})
}
