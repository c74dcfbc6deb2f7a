package server

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

func TestAcceptedEncoding(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"", ""},
		{"gzip", "gzip"},
		{"gzip, deflate, br", "br"},
		{"br;q=0, gzip", "gzip"},
		{"BR; q=0.5", "br"},
		{"gzip;q=0", ""},
		{"identity", ""},
		{"gzip, br;q=0.000", "gzip"},
	} {
		if got := acceptedEncoding(tc.header); got != tc.want {
			t.Errorf("Accept-Encoding %q: %q, want %q", tc.header, got, tc.want)
		}
	}
}

func TestStaticBrotliAndETag(t *testing.T) {
	ts, s := newTestServer(t)
	get := func(enc, etag string) *http.Response {
		req, _ := http.NewRequest("GET", ts.URL+"/cortexcast.wasm", nil)
		req.Header.Set("Accept-Encoding", enc)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := get("gzip, br", "")
	if resp.Header.Get("Content-Encoding") != "br" {
		t.Fatalf("encoding %q, want br", resp.Header.Get("Content-Encoding"))
	}
	body, err := io.ReadAll(brotli.NewReader(resp.Body))
	if err != nil || string(body) != "\x00asm" {
		t.Fatalf("brotli body %q, %v", body, err)
	}
	etag := resp.Header.Get("ETag")
	if len(etag) < 20 {
		t.Fatalf("ETag %q does not name the content", etag)
	}
	if r := get("gzip, br", etag); r.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation with the same ETag: status %d, want 304", r.StatusCode)
	}
	if r := get("gzip", etag); r.StatusCode != http.StatusOK || r.Header.Get("ETag") == etag {
		t.Fatalf("another encoding must have its own ETag: status %d, ETag %q", r.StatusCode, r.Header.Get("ETag"))
	}
	// A rebuild changes the content, the ETag and what is served.
	path := filepath.Join(s.cfg.WebDir, "cortexcast.wasm")
	if err := os.WriteFile(path, []byte("\x00asm-v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(path, later, later)
	r := get("", etag)
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK || string(b) != "\x00asm-v2" || r.Header.Get("ETag") == etag {
		t.Fatalf("after a rebuild: status %d body %q ETag %q", r.StatusCode, b, r.Header.Get("ETag"))
	}
}
