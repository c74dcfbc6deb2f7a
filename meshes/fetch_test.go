package meshes

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cortexcast/backend/pinned"
)

// TestFetchOffline: an unreachable server fails at once, with instructions
// naming the destination and every file's checksum, and writes nothing.
func TestFetchOffline(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/"
	srv.Close() // nothing listens there any more
	dest := t.TempDir()
	start := time.Now()
	err := FetchFsaverage5(context.Background(), nil, url, dest, nil)
	if err == nil {
		t.Fatal("fetch from a closed server succeeded")
	}
	if took := time.Since(start); took > FetchDialTimeout {
		t.Errorf("failing took %v, want at once", took)
	}
	msg := err.Error()
	for _, want := range []string{
		"infl_left.gii.gz", "Put these files by hand in " + filepath.Join(dest, "fsaverage5"),
		FetchCommit, "make meshes", "1a571c9d598a476a202c7295c235a709de63360047b92c0e7b75ed18b0f37e74", EnvMeshes,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if files, _ := os.ReadDir(filepath.Join(dest, "fsaverage5")); len(files) != 0 {
		t.Errorf("offline fetch left %d files", len(files))
	}
}

// TestPinnedChecksums checks the hard-coded sizes and SHA-256 against the
// byte-identical copies in ../shared/data/fsaverage5.
func TestPinnedChecksums(t *testing.T) {
	data := sharedData(t)
	for _, f := range Fsaverage5Files() {
		if ok, err := pinned.OK(filepath.Join(data, "fsaverage5", f.Name), f.pin()); !ok || err != nil {
			t.Errorf("%s: size or SHA-256 differs from ../shared/data/fsaverage5 (%v)", f.Name, err)
		}
	}
}

// TestFetchFromServer downloads from a local server serving the real
// files, skips intact files on a second run, and refuses a corrupt one.
func TestFetchFromServer(t *testing.T) {
	data := sharedData(t)
	var corrupt bool
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		name := strings.TrimPrefix(r.URL.Path, "/")
		raw, err := os.ReadFile(filepath.Join(data, "fsaverage5", name))
		if strings.Contains(name, "/") || err != nil {
			http.NotFound(w, r)
			return
		}
		if corrupt {
			raw[100] ^= 1
		}
		w.Write(raw)
	}))
	defer srv.Close()
	dest := t.TempDir()
	var log bytes.Buffer
	if err := FetchFsaverage5(context.Background(), srv.Client(), srv.URL+"/", dest, &log); err != nil {
		t.Fatal(err)
	}
	if hits != len(Fsaverage5Files()) || !strings.Contains(log.String(), "downloaded 200495 bytes") {
		t.Fatalf("%d requests; log:\n%s", hits, log.String())
	}
	got, err := FindFsaverageDir(dest)
	if err != nil || got != dest {
		t.Fatalf("FindFsaverageDir(%s) = %s, %v", dest, got, err)
	}
	if _, err := BuildBundle(dest, "fsaverage5"); err != nil {
		t.Fatalf("bundle from fetched files: %v", err)
	}
	hits = 0
	if err := FetchFsaverage5(context.Background(), srv.Client(), srv.URL+"/", dest, nil); err != nil || hits != 0 {
		t.Fatalf("second fetch: %d requests, %v", hits, err)
	}
	victim := filepath.Join(dest, "fsaverage5", "sulc_left.gii.gz")
	os.Remove(victim)
	corrupt = true
	err = FetchFsaverage5(context.Background(), srv.Client(), srv.URL+"/", dest, nil)
	if err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("corrupt download: %v", err)
	}
	if _, err := os.Stat(victim); err == nil {
		t.Error("a corrupt download was written")
	}
	corrupt = false
	err = FetchFsaverage5(context.Background(), srv.Client(), srv.URL+"/missing/", dest, nil)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing file: %v", err)
	}
}
