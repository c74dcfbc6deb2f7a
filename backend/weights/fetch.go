package weights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// DialTimeout bounds connecting and the TLS handshake, so that an offline
// machine fails at once rather than after a long network timeout.
const DialTimeout = 5 * time.Second

// Client returns the HTTP client Fetch uses by default: connecting, the
// TLS handshake and waiting for response headers are bounded; the body may
// take as long as it takes (hundreds of MB), bounded by the caller's context.
func Client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: DialTimeout}).DialContext,
			TLSHandshakeTimeout:   DialTimeout,
			ResponseHeaderTimeout: 30 * time.Second,
		},
	}
}

// FileOK reports whether path holds m's pinned file (size and SHA-256).
func FileOK(path string, m Model) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return false, fmt.Errorf("weights: read %s: %w", path, err)
	}
	return n == m.Size && hex.EncodeToString(h.Sum(nil)) == m.SHA256, nil
}

// Fetch downloads m from url (m.URL unless testing) to dest, streaming it
// to a temporary file in dest's directory while hashing, and renames it into
// place only when the size and SHA-256 match the pins. On any failure the
// temporary file is removed and dest is left as it was. A dest that already
// holds the pinned file is kept. Models without a pin fail with the reason
// and what to do instead; an unreachable server fails after at most
// DialTimeout with where to put a manually obtained file. client nil means
// Client(); progress (may be nil) gets a line about twice a second.
func Fetch(ctx context.Context, client *http.Client, m Model, url, dest string, progress io.Writer) error {
	if !m.Fetchable() {
		return fmt.Errorf("weights: %s: %s; then put it at %s (or pass --weights FILE)", m.Name, m.NoPin, dest)
	}
	if client == nil {
		client = Client()
	}
	if progress == nil {
		progress = io.Discard
	}
	if ok, err := FileOK(dest, m); err != nil {
		return err
	} else if ok {
		fmt.Fprintf(progress, "%s: present, checksum ok\n", dest)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	if err := download(ctx, client, m, url, dest, progress); err != nil {
		return fmt.Errorf("weights: fetch %s from %s: %w\n%s", m.Name, url, err, byHand(m, dest))
	}
	return nil
}

// byHand says how to put the file in place without Fetch.
func byHand(m Model, dest string) string {
	return fmt.Sprintf("Could not download it (offline, or the server unreachable or changed). Obtain the file elsewhere\n"+
		"(%s), check it (%d bytes, SHA-256 %s)\nand put it at %s, or pass its path with --weights FILE.",
		m.Source, m.Size, m.SHA256, dest)
}

// download streams url into a temporary file beside dest, verifies it and
// renames it to dest.
func download(ctx context.Context, client *http.Client, m Model, url, dest string, progress io.Writer) (err error) {
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
	if resp.ContentLength >= 0 && resp.ContentLength != m.Size {
		return fmt.Errorf("server announces %d bytes, want %d: the file changed; nothing was written", resp.ContentLength, m.Size)
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
	h := sha256.New()
	pw := &progressWriter{w: progress, name: m.Name, total: m.Size, start: time.Now()}
	n, err := io.Copy(io.MultiWriter(tmp, h, pw), io.LimitReader(resp.Body, m.Size+1))
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	if n != m.Size {
		return fmt.Errorf("got %d bytes, want %d (truncated or changed); nothing was written", n, m.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		return fmt.Errorf("SHA-256 %s, want %s: the download is corrupt or the file changed; nothing was written", got, m.SHA256)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	pw.done()
	return nil
}

// progressWriter prints the bytes received, the percentage and the rate,
// at most about twice a second.
type progressWriter struct {
	w           io.Writer
	name        string
	total, n    int64
	start, last time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= 500*time.Millisecond {
		p.last = now
		p.line("")
	}
	return len(b), nil
}

func (p *progressWriter) line(suffix string) {
	secs := max(time.Since(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "%s: %.1f/%.1f MB (%.0f%%), %.1f MB/s%s\n", p.name, float64(p.n)/1e6, float64(p.total)/1e6,
		100*float64(p.n)/float64(max(p.total, 1)), float64(p.n)/1e6/secs, suffix)
}

func (p *progressWriter) done() { p.line(", checksum ok") }
