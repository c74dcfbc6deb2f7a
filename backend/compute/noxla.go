//go:build !xla

package compute

import (
	"errors"

	"github.com/gomlx/compute"
)

// openXLA explains how to get XLA support in a binary built without it.
func openXLA(cfg, _ string) (compute.Backend, error) {
	return nil, errors.New("this binary was built without XLA support: rebuild with `make build XLA=1` " +
		"(go build -tags xla) and give the PJRT plugin for " + pluginKind(cfg) + " with --pjrt-plugin or $" + PluginEnvVar +
		" (or install it where FindPlugin looks: $PJRT_PLUGIN_LIBRARY_PATH, /usr/local/lib/go-xla, a Python jax installation)")
}

func pluginKind(cfg string) string {
	if cfg == "" {
		return "cpu"
	}
	return cfg
}
