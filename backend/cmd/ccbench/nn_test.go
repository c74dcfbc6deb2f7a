package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"testing"
)

func TestNNSmall(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-only", "nn", "-nn-images", "200", "-nn-features", "8", "-nn-vertices", "30,20", "-nn-steps", "2",
		"-work", t.TempDir()}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	re := `nn ROI model, one epoch of 200 images × 8 features on go: [0-9.]+ s \(30 vertices [0-9.]+ s \+ 20 vertices [0-9.]+ s; an epoch of 2 steps .* scaled by 200/143 images\)\nnn GPU path: .*\n`
	if !regexp.MustCompile(re).MatchString(out.String()) {
		t.Errorf("output %q does not match %s", out.String(), re)
	}
}
