// Package pinned downloads files whose size and SHA-256 are known in
// advance: streamed to a temporary file beside the destination while
// hashed, and renamed into place only when both match, so a failed or
// corrupt download leaves nothing behind. The mesh and feature-weights
// fetchers use it; nothing here runs unless a user asks for a download.
package pinned

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

// File is what a download must be.
type File struct {
	Size   int64
	SHA256 string // lower-case hex
}

// OK reports whether path holds f (size and SHA-256); a missing file is not
// an error.
func OK(path string, f File) (bool, error) {
	r, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return n == f.Size && hex.EncodeToString(h.Sum(nil)) == f.SHA256, nil
}

// Download streams url into a temporary file beside dest (whose directory
// must exist), copying the body also to progress (nil: none), and renames
// it to dest when the size and SHA-256 match f. On any failure the
// temporary file is removed and dest is left as it was.
func Download(ctx context.Context, client *http.Client, url, dest string, f File, progress io.Writer) (err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP status %s", resp.Status)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != f.Size {
		return fmt.Errorf("server announces %d bytes, want %d: the file changed; nothing was written", resp.ContentLength, f.Size)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".part-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if progress == nil {
		progress = io.Discard
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h, progress), io.LimitReader(resp.Body, f.Size+1))
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	if n != f.Size {
		return fmt.Errorf("got %d bytes, want %d (truncated or changed); nothing was written", n, f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("SHA-256 %s, want %s: the download is corrupt or the file changed; nothing was written", got, f.SHA256)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}
