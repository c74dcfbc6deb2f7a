//go:build xla

package compute

import (
	"fmt"
	"os"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
)

// openXLA opens the XLA backend with the PJRT plugin named by cfg ("cpu", "cuda" or a path).
// Auto-installation is switched off: a missing plugin is an error that says where to put it.
func openXLA(cfg string) (compute.Backend, error) {
	xla.EnableAutoInstall(false)
	if cfg == "" {
		cfg = "cpu"
	}
	b, err := xla.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("XLA plugin %q not usable (PJRT_PLUGIN_LIBRARY_PATH=%q; cortexcast never downloads "+
			"plugins: install the PJRT plugin for %s, e.g. from a Python jax installation, and point "+
			"PJRT_PLUGIN_LIBRARY_PATH at its directory): %w", cfg, os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"), cfg, err)
	}
	return b, nil
}
