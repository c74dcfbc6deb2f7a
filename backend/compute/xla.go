//go:build xla

package compute

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
)

// openXLA opens the XLA backend for cfg ("cpu", "cuda", or a plugin path, optionally followed by
// go-xla's ",key=value" options) with the plugin FindPlugin finds (plugin is the --pjrt-plugin
// value). Auto-installation is switched off: a missing plugin is an error that names every place
// searched.
func openXLA(cfg, plugin string) (compute.Backend, error) {
	xla.EnableAutoInstall(false)
	if cfg == "" {
		cfg = "cpu"
	}
	device, opts, hasOpts := strings.Cut(cfg, ",")
	if filepath.IsAbs(device) {
		return xla.New(cfg)
	}
	path, err := FindPlugin(device, PluginSearch{Flag: plugin, Getenv: os.Getenv})
	if err != nil {
		if plugin == "" {
			// go-xla's own search (LD_LIBRARY_PATH, ld.so.conf) may still know one.
			if b, err2 := xla.New(cfg); err2 == nil {
				return b, nil
			}
		}
		return nil, err
	}
	if hasOpts {
		path += "," + opts
	}
	return xla.New(path)
}
