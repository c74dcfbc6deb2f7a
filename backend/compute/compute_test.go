package compute

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Setenv(EnvVar, "")
	if got := Resolve(""); got != "go" {
		t.Fatalf("default %q", got)
	}
	t.Setenv(EnvVar, "xla:cuda")
	if got := Resolve(""); got != "xla:cuda" {
		t.Fatalf("env %q", got)
	}
	if got := Resolve("go"); got != "go" {
		t.Fatalf("flag %q", got)
	}
}

func TestOpenUnknown(t *testing.T) {
	if _, err := Open("tpu", nil); err == nil || !strings.Contains(err.Error(), "unknown backend") {
		t.Fatalf("err %v", err)
	}
}

func TestMatMulMatchesLoop(t *testing.T) {
	b, err := Open("go", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	n, k, m := 7, 13, 5
	a := make([]float32, n*k)
	w := make([]float32, k*m)
	for i := range a {
		a[i] = r.Float32()*2 - 1
	}
	for i := range w {
		w[i] = r.Float32()*2 - 1
	}
	got, err := b.MatMul(a, n, k, w, m)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		for j := range m {
			var want float64
			for l := range k {
				want += float64(a[i*k+l]) * float64(w[l*m+j])
			}
			if d := float64(got[i*m+j]) - want; d > 1e-5 || d < -1e-5 {
				t.Fatalf("(%d,%d) = %v, want %v", i, j, got[i*m+j], want)
			}
		}
	}
	if _, err := b.MatMul(a, n, k+1, w, m); err == nil {
		t.Fatal("bad shape accepted")
	}
}
