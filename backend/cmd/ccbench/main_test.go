package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-list"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"npy ", "simulate "} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("-list lacks %q:\n%s", name, out.String())
		}
	}
	err := run(context.Background(), []string{"-only", "npy,nope"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `unknown section "nope" (have npy, simulate, ridge, features, server, nn, viewer)`) {
		t.Errorf("unknown section: %v", err)
	}
}

// TestNPYSmall runs the npy section on a small matrix and checks the line
// it prints (with numpy when Debian's python3 has it).
func TestNPYSmall(t *testing.T) {
	work := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-only", "npy", "-npy-rows", "64", "-npy-cols", "33", "-work", work}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	re := `npy read 64x33 f4: Go [0-9.]+ s, (numpy [0-9.]+ s, ratio [0-9.]+ \(target <= 1\.5(, MISSED)?\)|numpy unavailable \(.*\))\n`
	if !regexp.MustCompile(re).MatchString(out.String()) {
		t.Errorf("output %q does not match %s", out.String(), re)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Errorf("the section left %d entries in -work", len(entries))
	}
}
