// Package compute chooses the gomlx backend that cortexcast computes on and runs the few
// dense operations that the rest of the code hands to it.
//
// The pure-Go backend ("go") is the default everywhere: it needs nothing installed. XLA on the
// CPU ("xla:cpu") or on a GPU ("xla:cuda") is used only when asked for, by flag or by the
// CORTEXCAST_BACKEND environment variable, in a binary built with the `xla` build tag; the
// PJRT plugin must already be on the machine (FindPlugin says where it is looked for): nothing
// here ever downloads one.
package compute

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
)

// EnvVar names the environment variable that selects the backend when no flag does.
const EnvVar = "CORTEXCAST_BACKEND"

// DefaultBackend is the backend used when neither a flag nor EnvVar selects one.
const DefaultBackend = "go"

// Backend is an opened gomlx backend with the name it was asked for.
type Backend struct {
	compute.Backend
	Spec string // "go", "xla:cpu", "xla:cuda"
}

// Resolve returns the backend spec to use: the flag value if set, else $CORTEXCAST_BACKEND,
// else DefaultBackend.
func Resolve(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := strings.TrimSpace(os.Getenv(EnvVar)); v != "" {
		return v
	}
	return DefaultBackend
}

// Open opens the backend named by spec and logs which backend and device it runs on. An XLA
// backend's PJRT plugin is found by FindPlugin from $CORTEXCAST_PJRT_PLUGIN and the usual places.
func Open(spec string, log *slog.Logger) (*Backend, error) { return OpenWithPlugin(spec, "", log) }

// OpenWithPlugin is Open with the value of a --pjrt-plugin flag: the PJRT plugin file (or a
// directory holding it) of an XLA backend; "" searches as Open does.
func OpenWithPlugin(spec, plugin string, log *slog.Logger) (*Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name, cfg, _ := strings.Cut(spec, ":")
	var (
		b   compute.Backend
		err error
	)
	switch name {
	case "go":
		b, err = gobackend.New(cfg)
	case "xla":
		b, err = openXLA(cfg, plugin)
	default:
		return nil, fmt.Errorf("compute: unknown backend %q: use \"go\" (pure Go, the default), \"xla:cpu\" or \"xla:cuda\"", spec)
	}
	if err != nil {
		return nil, fmt.Errorf("compute: open backend %q: %w", spec, err)
	}
	log.Info("compute backend", "backend", spec, "name", b.Name(), "device", b.Description(), "devices", b.NumDevices())
	return &Backend{Backend: b, Spec: spec}, nil
}
