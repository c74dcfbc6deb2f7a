package features

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
)

// MaxAutoBatch caps the batch size chosen from memory: beyond it a batch
// is no faster per image, and a larger one only delays the first results.
const MaxAutoBatch = 64

// memoryShare is the part of the available memory a batch may take; the
// rest is left to the weights, the decoded images and everything else.
const memoryShare = 0.5

// BatchForMemory returns how many images to run at once when avail bytes
// of memory are free and one image needs perImage bytes of activations:
// the most that fit in memoryShare of avail, at least 1 and at most
// maxBatch. perImage ≤ 0 or avail ≤ 0 (unknown) give maxBatch and 1.
func BatchForMemory(avail, perImage int64, maxBatch int) int {
	if maxBatch < 1 {
		maxBatch = 1
	}
	if perImage <= 0 {
		return maxBatch
	}
	if avail <= 0 {
		return 1
	}
	b := int64(math.Floor(memoryShare * float64(avail) / float64(perImage)))
	return int(max(1, min(b, int64(maxBatch))))
}

// AvailableMemory returns the memory this process can still use, in
// bytes: the smaller of the cgroup's limit less its usage (cgroup v2
// memory.max/memory.current, or v1 memory.limit_in_bytes/usage_in_bytes)
// and /proc/meminfo's MemAvailable. source says which bound it is.
func AvailableMemory() (avail int64, source string, err error) {
	return availableMemory(os.DirFS("/"))
}

// availableMemory reads the files AvailableMemory names from root (the
// file system's "/").
func availableMemory(root fs.FS) (int64, string, error) {
	avail, source := int64(-1), ""
	if b, err := fs.ReadFile(root, "proc/meminfo"); err == nil {
		if v, ok := memAvailable(b); ok {
			avail, source = v, "/proc/meminfo MemAvailable"
		}
	}
	for _, c := range []struct{ limit, usage, name string }{
		{"sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory.current", "cgroup v2 memory.max"},
		{"sys/fs/cgroup/memory/memory.limit_in_bytes", "sys/fs/cgroup/memory/memory.usage_in_bytes", "cgroup v1 memory.limit_in_bytes"},
	} {
		limit, ok := readBytes(root, c.limit)
		if !ok {
			continue
		}
		usage, ok := readBytes(root, c.usage)
		if !ok {
			usage = 0
		}
		// cgroup v1 writes a huge number (about 2^63) for "no limit".
		if limit <= 0 || limit >= 1<<60 {
			break
		}
		if free := max(limit-usage, 0); avail < 0 || free < avail {
			avail, source = free, c.name
		}
		break
	}
	if avail < 0 {
		return 0, "", fmt.Errorf("features: available memory: neither /proc/meminfo nor a cgroup memory limit is readable")
	}
	return avail, source, nil
}

// memAvailable parses the MemAvailable line of /proc/meminfo (in kB).
func memAvailable(meminfo []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemAvailable:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || v < 0 {
				return 0, false
			}
			unit := int64(1)
			if len(f) >= 3 && strings.EqualFold(f[2], "kB") {
				unit = 1024
			}
			return v * unit, true
		}
	}
	return 0, false
}

// readBytes reads a cgroup file holding one number of bytes; "max" (no
// limit) reads as math.MaxInt64.
func readBytes(root fs.FS, name string) (int64, bool) {
	b, err := fs.ReadFile(root, name)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return math.MaxInt64, true
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}
