package bolt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/pki/store"
	"intransit/pki/store/storetest"
)

func backend(t *testing.T) func() store.Store {
	path := filepath.Join(t.TempDir(), "pki.db")
	return func() store.Store {
		s, err := Open(path, Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, backend)
	storetest.RunWatch(t, backend)
}

// filledStore makes a store file holding a few records and returns its path.
func filledStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pki.db")
	s, err := Open(path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 200; i++ {
		if err := s.PutCertificate(context.Background(), storetest.Record(i, "n", "server", time.Now().Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDamagedFilesAreRefusedClearly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"missing", func(t *testing.T, path string) { must(t, os.Remove(path)) }, "does not exist"},
		{"empty", func(t *testing.T, path string) { must(t, os.Truncate(path, 0)) }, "is empty"},
		{"truncated to one page", func(t *testing.T, path string) { must(t, os.Truncate(path, 4096)) }, "pki.db"},
		{"truncated by half", func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			must(t, err)
			must(t, os.Truncate(path, fi.Size()/2))
		}, "truncated"},
		{"garbage", func(t *testing.T, path string) {
			must(t, os.WriteFile(path, []byte(strings.Repeat("not a database ", 2000)), 0o600))
		}, "pki.db"},
		{"pages overwritten", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			must(t, err)
			_, err = f.WriteAt([]byte(strings.Repeat("\xff", 3*4096)), 2*4096)
			must(t, err)
			must(t, f.Close())
		}, "pki.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filledStore(t)
			tc.damage(t, path)
			before, _ := os.ReadFile(path)
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("damaged store opened without error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file and the damage (%q)", err, tc.want)
			}
			after, _ := os.ReadFile(path)
			if string(before) != string(after) {
				t.Fatal("opening a damaged store changed the file")
			}
		})
	}
}

func TestSecondOpenerIsRefused(t *testing.T) {
	path := filledStore(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(path, Options{LockTimeout: 100 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: err = %v, want 'in use'", err)
	}
}

func TestFileMode(t *testing.T) {
	path := filledStore(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode %v, want 0600", fi.Mode().Perm())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
