package simulate

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestTimingDefault(t *testing.T) {
	root := os.Getenv("SIM_TIMING")
	if root == "" {
		t.Skip("SIM_TIMING not set")
	}
	cfg := DefaultConfig()
	cfg.Root = root
	cfg.MasksDir = "/work/shared/data/algonauts2023/roi_masks"
	start := time.Now()
	last := ""
	cfg.Progress = func(s string, d, n int) {
		if s != last {
			t.Log(time.Since(start), s)
			last = s
		}
	}
	if err := Generate(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Log("total", time.Since(start))
}
