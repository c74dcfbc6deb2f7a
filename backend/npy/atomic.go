package npy

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes a file atomically: write is called with a temporary file
// in the same directory as path, which is then synced, closed and renamed to
// path. On any error the temporary file is removed and path is untouched.
// The containing directory is synced after the rename where the platform
// allows it.
func WriteFile(path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("npy: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return fmt.Errorf("npy: writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("npy: syncing %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("npy: closing %s: %w", tmp, err)
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("npy: writing %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("npy: renaming %s to %s: %w", tmp, path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // best effort: not every platform can sync a directory
		d.Close()
	}
	return nil
}
