package simulate

import (
	"context"
	"testing"
)

// BenchmarkGenerate times one subject of 200 images over the synthetic layout
// (the same vertex count as the real masks).
func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		cfg := Config{Root: b.TempDir() + "/ds", Subjects: 1, Train: 180, Test: 20, Seed: 1}
		if err := Generate(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
}
