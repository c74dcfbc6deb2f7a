package main

import (
	"runtime"
	"testing"
	"time"
)

// TestThreadCPUTime checks the thread clock against wall time: a sleeping
// thread gains (almost) none, a spinning one gains about what the wall
// clock does, never more.
func TestThreadCPUTime(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0, ok := threadCPUTime()
	if !ok {
		t.Skip("no per-thread CPU clock on this system")
	}
	time.Sleep(50 * time.Millisecond)
	c1, _ := threadCPUTime()
	if d := c1 - c0; d > 20*time.Millisecond {
		t.Errorf("a 50 ms sleep used %v of thread CPU time", d)
	}
	w1 := time.Now()
	c2 := c1
	for c2-c1 < 20*time.Millisecond && time.Since(w1) < 5*time.Second {
		c2, _ = threadCPUTime()
	}
	wall := time.Since(w1)
	if c2-c1 < 20*time.Millisecond {
		t.Fatalf("spinning for %v advanced the thread clock by only %v", wall, c2-c1)
	}
	if c2-c1 > wall+time.Millisecond {
		t.Errorf("thread clock advanced %v in %v of wall time", c2-c1, wall)
	}
}
