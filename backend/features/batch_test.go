package features

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestBatchForMemory(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		avail, per int64
		max, want  int
	}{
		{8000 * mb, 100 * mb, 64, 40}, // half of 8000 MB is 4000 MB: 40 images of 100 MB
		{8000 * mb, 1 * mb, 64, 64},   // capped
		{8000 * mb, 1 * mb, 16, 16},
		{150 * mb, 100 * mb, 64, 1}, // 75 MB fits none: still one
		{201 * mb, 100 * mb, 64, 1}, // 100.5 MB: one
		{400 * mb, 100 * mb, 64, 2}, // exactly two
		{0, 100 * mb, 64, 1},        // memory unknown: one at a time
		{8000 * mb, 0, 64, 64},      // size unknown: the cap
		{8000 * mb, 100 * mb, 0, 1}, // a cap below one is one
		{1 << 62, 1, MaxAutoBatch, MaxAutoBatch},
	} {
		if got := BatchForMemory(c.avail, c.per, c.max); got != c.want {
			t.Errorf("BatchForMemory(%d MB, %d MB, %d) = %d, want %d", c.avail/mb, c.per/mb, c.max, got, c.want)
		}
	}
}

func TestAvailableMemory(t *testing.T) {
	meminfo := &fstest.MapFile{Data: []byte("MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n")}
	for _, c := range []struct {
		name   string
		fs     fstest.MapFS
		want   int64
		source string
	}{
		{"meminfo only", fstest.MapFS{"proc/meminfo": meminfo}, 8000000 * 1024, "MemAvailable"},
		{"cgroup v2 tighter", fstest.MapFS{"proc/meminfo": meminfo,
			"sys/fs/cgroup/memory.max":     {Data: []byte("4294967296\n")},
			"sys/fs/cgroup/memory.current": {Data: []byte("1073741824\n")}}, 3 << 30, "cgroup v2"},
		{"cgroup v2 unlimited", fstest.MapFS{"proc/meminfo": meminfo,
			"sys/fs/cgroup/memory.max":     {Data: []byte("max\n")},
			"sys/fs/cgroup/memory.current": {Data: []byte("1073741824\n")}}, 8000000 * 1024, "MemAvailable"},
		{"cgroup v2 looser", fstest.MapFS{"proc/meminfo": meminfo,
			"sys/fs/cgroup/memory.max":     {Data: []byte("68719476736")},
			"sys/fs/cgroup/memory.current": {Data: []byte("0")}}, 8000000 * 1024, "MemAvailable"},
		{"cgroup v1", fstest.MapFS{"proc/meminfo": meminfo,
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("2147483648\n")},
			"sys/fs/cgroup/memory/memory.usage_in_bytes": {Data: []byte("536870912\n")}}, 1536 << 20, "cgroup v1"},
		{"cgroup v1 unlimited", fstest.MapFS{"proc/meminfo": meminfo,
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")},
			"sys/fs/cgroup/memory/memory.usage_in_bytes": {Data: []byte("536870912\n")}}, 8000000 * 1024, "MemAvailable"},
		{"over the limit", fstest.MapFS{
			"sys/fs/cgroup/memory.max":     {Data: []byte("1000")},
			"sys/fs/cgroup/memory.current": {Data: []byte("2000")}}, 0, "cgroup v2"},
	} {
		got, source, err := availableMemory(c.fs)
		if err != nil || got != c.want || !contains(source, c.source) {
			t.Errorf("%s: %d (%q), %v; want %d from %q", c.name, got, source, err, c.want, c.source)
		}
	}
	if _, _, err := availableMemory(fstest.MapFS{"proc/meminfo": {Data: []byte("MemTotal: 1 kB\n")}}); err == nil {
		t.Error("no MemAvailable and no cgroup: no error")
	}
	if v, _, err := AvailableMemory(); err != nil || v <= 0 {
		t.Errorf("AvailableMemory on this machine: %d, %v", v, err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func FuzzAvailableMemory(f *testing.F) {
	f.Add([]byte("MemAvailable:    8000000 kB\n"), []byte("max\n"), []byte("12"))
	f.Add([]byte("MemAvailable: -1 kB"), []byte("-5"), []byte("x"))
	f.Fuzz(func(t *testing.T, meminfo, limit, usage []byte) {
		v, _, err := availableMemory(fstest.MapFS{"proc/meminfo": {Data: meminfo},
			"sys/fs/cgroup/memory.max": {Data: limit}, "sys/fs/cgroup/memory.current": {Data: usage}})
		if err == nil && v < 0 {
			t.Fatalf("negative available memory %d", v)
		}
	})
}

func TestONNXAutoBatch(t *testing.T) {
	e, err := NewONNX(filepath.Join(onnxDir, "alexnet_tiny.onnx"), "", ONNXOptions{Backend: "go"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// The first convolution's im2col matrix alone is 55·55 positions ×
	// 3·11·11 values of 4 bytes; its output 8×55×55 floats.
	lower := int64(55*55*3*11*11*4 + 8*55*55*4)
	if p := e.PerImageBytes(); p < lower || p > 100*lower {
		t.Errorf("PerImageBytes %d, want between %d and %d", p, lower, 100*lower)
	}
	avail, _, err := AvailableMemory()
	if err != nil {
		t.Fatal(err)
	}
	b, from := e.BatchSize()
	t.Logf("per image %d bytes; batch %d (%s)", e.PerImageBytes(), b, from)
	if want := BatchForMemory(avail, e.PerImageBytes(), MaxAutoBatch); b < 1 || b > MaxAutoBatch || (b != want && b+1 != want && b-1 != want) {
		t.Errorf("BatchSize %d (%s), want about %d", b, from, want)
	}
	e2, err := NewONNX(filepath.Join(onnxDir, "alexnet_tiny.onnx"), "", ONNXOptions{Backend: "go", BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if b, from := e2.BatchSize(); b != 3 || from != "option" {
		t.Errorf("BatchSize %d (%s), want 3 from the option", b, from)
	}
}
