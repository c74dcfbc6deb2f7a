package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cortexcast/backend/weights"
)

// TestModelsFetch runs `models fetch` against the registry without the
// network: the listing, a model without a pinned file, and a pinned one
// whose server is unreachable (a just-closed local port).
func TestModelsFetch(t *testing.T) {
	ctx := context.Background()
	wdir := t.TempDir()
	t.Setenv(weights.EnvDir, wdir)
	run := func(args ...string) (string, error) {
		e, out := testEnv()
		err := run(ctx, e, append([]string{"models", "fetch"}, args...))
		return out.String(), err
	}
	out, err := run("--list")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range weights.Registry() {
		if !strings.Contains(out, m.Name) || m.Fetchable() && !strings.Contains(out, m.SHA256) {
			t.Errorf("--list lacks %s:\n%s", m.Name, out)
		}
	}
	if _, err := run("alexnet"); err == nil || !strings.Contains(err.Error(), "README") || !strings.Contains(err.Error(), filepath.Join(wdir, "alexnet.onnx")) {
		t.Errorf("fetch alexnet: %v", err)
	}
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "want one model NAME") {
		t.Errorf("fetch without NAME: %v", err)
	}
	if _, err := run("resnet"); err == nil || !strings.Contains(err.Error(), "unknown model") {
		t.Errorf("fetch resnet: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/bvlcalexnet-12.onnx"
	l.Close()
	start := time.Now()
	_, err = run("bvlc-alexnet", "--url", url)
	if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), filepath.Join(wdir, "bvlc-alexnet.onnx")) {
		t.Errorf("unreachable fetch: %v", err)
	}
	if took := time.Since(start); took > weights.DialTimeout+time.Second {
		t.Errorf("unreachable fetch took %v", took)
	}
	if names, _ := os.ReadDir(wdir); len(names) != 0 {
		t.Errorf("left %v in the weights directory", names)
	}
}
