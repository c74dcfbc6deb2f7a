package pinned

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDownload(t *testing.T) {
	body := bytes.Repeat([]byte("cortexcast"), 1000)
	sum := sha256.Sum256(body)
	good := File{Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write(body)
		case "/short": // no Content-Length announced, body cut short
			w.(http.Flusher).Flush()
			w.Write(body[:100])
		case "/corrupt":
			b := bytes.Clone(body)
			b[7] ^= 1
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, c := range []struct{ path, wantErr string }{
		{"/ok", ""},
		{"/short", "got 100 bytes"},
		{"/corrupt", "SHA-256"},
		{"/missing", "404"},
	} {
		t.Run(c.path, func(t *testing.T) {
			dir := t.TempDir()
			dest := filepath.Join(dir, "f.bin")
			var progress bytes.Buffer
			err := Download(context.Background(), srv.Client(), srv.URL+c.path, dest, good, &progress)
			ok, okErr := OK(dest, good)
			if okErr != nil {
				t.Fatal(okErr)
			}
			if c.wantErr == "" {
				if err != nil || !ok || progress.Len() != len(body) {
					t.Fatalf("err %v, file ok %v, %d bytes of progress", err, ok, progress.Len())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, c.wantErr)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("a failed download left %d files", len(left))
			}
		})
	}
}

func TestOK(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if ok, err := OK(path, File{Size: 1}); ok || err != nil {
		t.Fatalf("missing file: %v, %v", ok, err)
	}
	if err := os.WriteFile(path, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("abc"))
	for _, c := range []struct {
		f    File
		want bool
	}{
		{File{3, hex.EncodeToString(sum[:])}, true},
		{File{4, hex.EncodeToString(sum[:])}, false},
		{File{3, strings.Repeat("0", 64)}, false},
	} {
		if ok, err := OK(path, c.f); ok != c.want || err != nil {
			t.Errorf("%+v: %v, %v; want %v", c.f, ok, err, c.want)
		}
	}
}
