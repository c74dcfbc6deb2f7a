//go:build !xla

package compute

import (
	"errors"

	"github.com/gomlx/compute"
)

// openXLA explains how to get XLA support in a binary built without it.
func openXLA(cfg string) (compute.Backend, error) {
	return nil, errors.New("this binary was built without XLA support: rebuild with `make build XLA=1` " +
		"(go build -tags xla) and put the PJRT plugin for " + pluginKind(cfg) + " where PJRT_PLUGIN_LIBRARY_PATH points")
}

func pluginKind(cfg string) string {
	if cfg == "" {
		return "cpu"
	}
	return cfg
}
