package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// onlyEntries fails unless dir holds exactly the given names (no
// temporary file left behind).
func onlyEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("directory holds %v, want %v", got, names)
	}
	for i := range names {
		if got[i] != names[i] {
			t.Fatalf("directory holds %v, want %v", got, names)
		}
	}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestWriteReplacesWithExactMode(t *testing.T) {
	// A umask that would strip group and other bits: perm must win anyway.
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "ca.pem")
	for _, tc := range []struct {
		data string
		perm os.FileMode
	}{
		{"first", 0o644},
		{"second, longer than the first", 0o600},
		{"3", 0o640},
	} {
		if err := Write(path, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != tc.data {
			t.Fatalf("content %q, want %q", b, tc.data)
		}
		if m := mode(t, path); m != tc.perm {
			t.Fatalf("mode %v, want %v", m, tc.perm)
		}
	}
	onlyEntries(t, dir, "ca.pem")
}

func TestCreateRefusesAnExistingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "leaf.key")
	if err := Create(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, path); m != 0o600 {
		t.Fatalf("mode %v, want 0600", m)
	}
	if err := Create(path, []byte("two"), 0o600); !errors.Is(err, os.ErrExist) {
		t.Fatalf("Create over an existing file: err = %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Fatalf("Create changed an existing file: %q", b)
	}
	onlyEntries(t, dir, "leaf.key")
}

func TestConcurrentCreatesOneWins(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "serial")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = Create(path, []byte{byte('a' + i)}, 0o600)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, os.ErrExist):
			t.Fatalf("Create: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent Creates succeeded, want 1", won, n)
	}
	onlyEntries(t, dir, "serial")
}

func TestFailureLeavesPathAndDirectoryAsTheyWere(t *testing.T) {
	dir := t.TempDir()
	// path is a non-empty directory: the rename fails after the data was
	// written to the temporary file.
	path := filepath.Join(dir, "occupied")
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := Write(path, []byte("data"), 0o600)
	if err == nil {
		t.Fatal("Write over a non-empty directory succeeded")
	}
	if !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Fatalf("error %q does not name %s", err, path)
	}
	onlyEntries(t, dir, "occupied")
	if err := Write(filepath.Join(dir, "missing", "x"), []byte("x"), 0o600); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
}

// TestReadersSeeOldOrNew: a reader racing with replacements sees one
// complete version or the other, never a mix or a truncated file.
func TestReadersSeeOldOrNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "crl.pem")
	a, b := bytes.Repeat([]byte("a"), 1<<18), bytes.Repeat([]byte("b"), 1<<18)
	if err := Write(path, a, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	bad := make(chan string, 1)
	go func() {
		defer close(done)
		for range 200 {
			got, err := os.ReadFile(path)
			if err != nil || !(bytes.Equal(got, a) || bytes.Equal(got, b)) {
				bad <- "a reader saw a partial or missing file"
				return
			}
		}
	}()
	for i := range 50 {
		next := a
		if i%2 == 0 {
			next = b
		}
		if err := Write(path, next, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	select {
	case msg := <-bad:
		t.Fatal(msg)
	default:
	}
}

func TestRename(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "key.next"), filepath.Join(dir, "key")
	if err := Write(to, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(from, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Rename(from, to); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(to); string(b) != "new" {
		t.Fatalf("content %q, want new", b)
	}
	onlyEntries(t, dir, "key")
	if err := Rename(from, to); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Rename of a missing file: err = %v, want ErrNotExist", err)
	}
}
