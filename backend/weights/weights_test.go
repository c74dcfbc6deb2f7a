package weights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testModel returns a pinned model for data.
func testModel(data []byte) Model {
	sum := sha256.Sum256(data)
	return Model{Name: "tiny", Source: "test server", URL: "set-by-test", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// dirEntries lists dir's file names.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestFetch(t *testing.T) {
	data := randomBytes(300_000)
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		switch r.URL.Path {
		case "/ok":
			w.Write(data)
		case "/corrupt":
			bad := append([]byte(nil), data...)
			bad[len(bad)/2] ^= 1
			w.Write(bad)
		case "/truncated":
			// Announces the full length, sends half and hangs up.
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:len(data)/2])
			if hj, ok := w.(http.Hijacker); ok {
				w.(http.Flusher).Flush()
				c, _, _ := hj.Hijack()
				c.Close()
			}
		case "/short":
			w.Write(data[:len(data)-1]) // chunked, no length: one byte short
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	m := testModel(data)
	ctx := context.Background()

	for _, c := range []struct{ path, want string }{
		{"/corrupt", "SHA-256"},
		{"/truncated", "unexpected EOF"},
		{"/short", "got 299999 bytes, want 300000"},
		{"/missing", "404"},
	} {
		dir := t.TempDir()
		dest := filepath.Join(dir, "tiny.onnx")
		err := Fetch(ctx, nil, m, srv.URL+c.path, dest, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dest) {
			t.Errorf("%s: error %v, want one containing %q and the destination", c.path, err, c.want)
		}
		if names := dirEntries(t, dir); len(names) != 0 {
			t.Errorf("%s: left %v behind", c.path, names)
		}
	}

	dir := t.TempDir()
	dest := filepath.Join(dir, "sub", "tiny.onnx")
	var progress strings.Builder
	if err := Fetch(ctx, nil, m, srv.URL+"/ok", dest, &progress); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dest)
	if err != nil || string(got) != string(data) {
		t.Fatalf("downloaded file differs (err %v)", err)
	}
	if !strings.Contains(progress.String(), "0.3/0.3 MB (100%)") || !strings.Contains(progress.String(), "checksum ok") {
		t.Errorf("progress %q", progress.String())
	}
	if names := dirEntries(t, filepath.Dir(dest)); len(names) != 1 {
		t.Errorf("files beside the download: %v", names)
	}
	// A second fetch keeps the intact file without asking the server.
	before := hits
	progress.Reset()
	if err := Fetch(ctx, nil, m, srv.URL+"/ok", dest, &progress); err != nil || hits != before || !strings.Contains(progress.String(), "present") {
		t.Errorf("refetch: err %v, %d requests, progress %q", err, hits-before, progress.String())
	}
	// A damaged file is replaced.
	os.WriteFile(dest, data[:10], 0o644)
	if err := Fetch(ctx, nil, m, srv.URL+"/ok", dest, nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := FileOK(dest, m); !ok || err != nil {
		t.Errorf("after refetch FileOK = %v, %v", ok, err)
	}
}

func TestFetchUnreachableFailsFast(t *testing.T) {
	// A port that was just closed: the connection is refused at once, as an
	// offline machine's would be (or time out after DialTimeout).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/tiny.onnx"
	l.Close()
	dest := filepath.Join(t.TempDir(), "tiny.onnx")
	m := testModel([]byte("weights"))
	m.Source = "the tiny repository"
	start := time.Now()
	err = Fetch(context.Background(), nil, m, url, dest, nil)
	if err == nil {
		t.Fatal("no error")
	}
	if took := time.Since(start); took > DialTimeout+time.Second {
		t.Errorf("took %v", took)
	}
	for _, want := range []string{url, dest, "--weights FILE", m.SHA256, "the tiny repository"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("destination exists: %v", err)
	}
}

func TestFetchUnpinned(t *testing.T) {
	m, err := Lookup("clip-vit-b32")
	if err != nil {
		t.Fatal(err)
	}
	err = Fetch(context.Background(), nil, m, m.URL, "/nonexistent/clip-vit-b32.onnx", nil)
	if err == nil || !strings.Contains(err.Error(), "no public ONNX pinned") || !strings.Contains(err.Error(), "README") {
		t.Errorf("error %v", err)
	}
}

func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Registry() {
		if seen[m.Name] {
			t.Errorf("%s listed twice", m.Name)
		}
		seen[m.Name] = true
		if m.Nodes == "" {
			t.Errorf("%s: no node description", m.Name)
		}
		if m.Fetchable() {
			if _, err := hex.DecodeString(m.SHA256); err != nil || len(m.SHA256) != 64 || m.Source == "" || !strings.HasPrefix(m.URL, "https://") {
				t.Errorf("%s: bad pin %+v", m.Name, m)
			}
		} else if m.URL != "" || !strings.Contains(m.NoPin, "README") {
			t.Errorf("%s: neither pinned nor explained: %+v", m.Name, m)
		}
	}
	for _, n := range []string{"alexnet", "clip-vit-b32", "sam-vit-b"} {
		if !seen[n] {
			t.Errorf("%s missing", n)
		}
	}
	if _, err := Lookup("resnet"); err == nil || !strings.Contains(err.Error(), "alexnet") {
		t.Errorf("Lookup(resnet): %v", err)
	}
}

func TestDir(t *testing.T) {
	t.Setenv(EnvDir, "/some/where")
	if p, err := DefaultPath("alexnet"); err != nil || p != "/some/where/alexnet.onnx" {
		t.Errorf("DefaultPath = %q, %v", p, err)
	}
	t.Setenv(EnvDir, "")
	t.Setenv("XDG_CACHE_HOME", "/cache")
	if d, err := Dir(); err != nil || d != "/cache/cortexcast/weights" {
		t.Errorf("Dir = %q, %v", d, err)
	}
}
