//go:build !linux

package main

import "time"

// threadCPUTime reports false: no per-thread CPU clock here, so the viewer
// section judges wall-clock time.
func threadCPUTime() (time.Duration, bool) { return 0, false }
