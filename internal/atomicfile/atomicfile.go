// Package atomicfile writes files so that a crash or a concurrent reader
// sees either the old content or the complete new content, never a partial
// file, and so that a secret file is never readable by others, not even for
// an instant. Every file the project writes for later use (keys,
// certificates, CRLs, profiles, state) goes through it.
//
// The contract of Write and Create, in order:
//   - the content goes to a new temporary file in path's directory (so that
//     the final rename stays on one file system), named ".<base>.tmp-*";
//   - its mode is set to perm (exactly, whatever the umask) before any byte
//     is written; the temporary file is created 0600, so it is never more
//     open than perm;
//   - the data is written and the file fsync'd, then closed;
//   - the file takes path's name (rename for Write, hard link for Create,
//     which fails when path exists);
//   - the directory is fsync'd, so that the new name survives a crash.
//
// When Write or Create returns nil, the new content is durable. When they
// return an error, path is unchanged (its old content, or still absent)
// and the temporary file is removed; errors name path.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data, mode perm, following the package contract.
func Write(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

// Create writes data to path, mode perm, following the package contract,
// and fails with an error matching os.ErrExist when path already exists.
// Two concurrent Creates of one path: exactly one succeeds.
func Create(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, true)
}

// Rename renames oldpath to newpath (replacing it) and fsyncs the
// directories of both, so that the rename survives a crash once Rename
// returns nil.
func Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return fmt.Errorf("rename %s: %w", oldpath, err)
	}
	if err := syncDir(filepath.Dir(newpath)); err != nil {
		return err
	}
	if od := filepath.Dir(oldpath); od != filepath.Dir(newpath) {
		return syncDir(od)
	}
	return nil
}

func write(path string, data []byte, perm os.FileMode, exclusive bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if exclusive {
		// A hard link fails when the target exists, unlike rename.
		if err := os.Link(tmp.Name(), path); err != nil {
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("write %s: %w", path, os.ErrExist)
			}
			return fmt.Errorf("write %s: %w", path, err)
		}
		// path holds the new content now; the temporary name is surplus.
		_ = os.Remove(tmp.Name())
	} else if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that entries created or renamed in it
// survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
