package weights

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"cortexcast/backend/pinned"
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
	ok, err := pinned.OK(path, m.pin())
	if err != nil {
		return false, fmt.Errorf("weights: %w", err)
	}
	return ok, nil
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

// download streams url to dest through pinned.Download, printing progress.
func download(ctx context.Context, client *http.Client, m Model, url, dest string, progress io.Writer) error {
	pw := &progressWriter{w: progress, name: m.Name, total: m.Size, start: time.Now()}
	if err := pinned.Download(ctx, client, url, dest, m.pin(), pw); err != nil {
		return err
	}
	pw.done()
	return nil
}

// pin is what m's download must be.
func (m Model) pin() pinned.File { return pinned.File{Size: m.Size, SHA256: m.SHA256} }

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
