// Package openblas chooses the BLAS behind gonum's blas32 and blas64 for the
// whole process: the system OpenBLAS (through gonum.org/v1/netlib) in builds
// with the openblas tag and cgo,
//
//	CGO_LDFLAGS=-lopenblas go build -tags openblas
//
// and gonum's pure Go otherwise. Packages that multiply large matrices import
// it, so that every such product in one binary goes to the same library.
//
// OpenBLAS picks its kernels from the CPU model when the library loads. The
// Debian 0.3.21 build does not know recent Xeons (as virtual machines often
// report them) and falls back to its generic "Prescott" kernels, 5–9× slower
// for float32 products on an AVX-512 machine. [TuneCoreType] fixes that for a
// program by re-executing it with OPENBLAS_CORETYPE set; it must run before
// anything else in main, as the library reads the variable only at load.
package openblas

import (
	"fmt"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/cpu"
)

// CoreTypeEnv is the variable OpenBLAS reads to force a kernel set.
const CoreTypeEnv = "OPENBLAS_CORETYPE"

// genericCores are the kernel sets OpenBLAS falls back to for a CPU model it
// does not recognise, or chose for CPUs older than AVX2.
var genericCores = []string{"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge", "Unknown", ""}

// cpuFeatures is the part of the CPU's feature flags the choice depends on.
type cpuFeatures struct {
	avx2, fma, avx512 bool // avx512: F, CD, BW, DQ and VL, what OpenBLAS's SkylakeX kernels use
}

func hostFeatures() cpuFeatures {
	x := cpu.X86
	return cpuFeatures{
		avx2: x.HasAVX2, fma: x.HasFMA,
		avx512: x.HasAVX512F && x.HasAVX512CD && x.HasAVX512BW && x.HasAVX512DQ && x.HasAVX512VL,
	}
}

// betterCore returns the kernel set to force when OpenBLAS chose detected, a
// generic one, on a CPU with f; "" when detected is already right (or the CPU
// has nothing better to offer).
func betterCore(detected string, f cpuFeatures) string {
	if !slices.Contains(genericCores, detected) {
		return ""
	}
	switch {
	case f.avx512:
		return "SkylakeX"
	case f.avx2 && f.fma && detected != "Haswell":
		return "Haswell"
	}
	return ""
}

// TuneCoreType re-executes the running program with OPENBLAS_CORETYPE set
// when it is built with OpenBLAS, the variable is unset, and OpenBLAS chose a
// generic kernel set on a CPU with AVX2 or AVX-512 (see the package
// documentation). It returns only when nothing needs doing, or with the error
// that stopped the re-execution; setting OPENBLAS_CORETYPE (to any value, even
// the detected one) turns it off.
func TuneCoreType() error {
	if !Enabled {
		return nil
	}
	if _, set := os.LookupEnv(CoreTypeEnv); set {
		return nil
	}
	core := betterCore(CoreName(), hostFeatures())
	if core == "" {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("openblas: re-execute with %s=%s: %w", CoreTypeEnv, core, err)
	}
	env := append(os.Environ(), CoreTypeEnv+"="+core)
	if err := syscall.Exec(exe, os.Args, env); err != nil {
		return fmt.Errorf("openblas: re-execute %s with %s=%s: %w", exe, CoreTypeEnv, core, err)
	}
	return nil
}
