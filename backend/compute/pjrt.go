package compute

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// PluginEnvVar names the environment variable that gives the PJRT plugin (a .so file, or a
// directory holding one) when no --pjrt-plugin flag does.
const PluginEnvVar = "CORTEXCAST_PJRT_PLUGIN"

// pjrtPathsEnv is the variable go-xla itself searches: a ":"-separated list of directories.
const pjrtPathsEnv = "PJRT_PLUGIN_LIBRARY_PATH"

// PluginSearch is where FindPlugin looks. Its zero value with Getenv set to os.Getenv searches
// the real machine; tests give a fake root and environment.
type PluginSearch struct {
	Flag   string              // the --pjrt-plugin value: a plugin file or a directory holding one
	Getenv func(string) string // the environment (nil: none)
	Root   string              // prefix of every absolute place searched ("" = "/")
}

// pluginNames returns the file names, or globs relative to a Python site-packages directory, of
// the PJRT plugin of a device: go-xla's naming, and jax's pip plugins (jax-cuda12-plugin and
// jax-cuda13-plugin put jax_plugins/xla_cuda12/xla_cuda_plugin.so in site-packages).
func pluginNames(device string) (files, sitePackages []string) {
	files = []string{"pjrt_c_api_" + device + "_plugin.so"}
	switch device {
	case "cuda":
		files = append(files, "xla_cuda_plugin.so")
		sitePackages = []string{"jax_plugins/xla_cuda*/xla_cuda_plugin.so", "jax_plugins/xla_cuda*/*.so"}
	}
	return files, sitePackages
}

// FindPlugin returns the PJRT plugin file for device ("cpu", "cuda"), searching in order: the
// flag, $CORTEXCAST_PJRT_PLUGIN, the directories of $PJRT_PLUGIN_LIBRARY_PATH, go-xla's install
// directories (/usr/local/lib/go-xla, ~/.local/lib/go-xla), then the site-packages of Python
// installations (a virtual environment or conda prefix from the environment, ~/.local, /usr and
// /usr/local, any python3.*). It never downloads anything. When nothing is found the error names
// every place searched.
func FindPlugin(device string, s PluginSearch) (string, error) {
	getenv := s.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	root := func(p string) string {
		if s.Root == "" || !filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(s.Root, p)
	}
	files, site := pluginNames(device)
	var looked []string
	// explicit: a file is taken as it is (any name); a directory is searched for the names.
	explicit := func(what, p string) (string, error) {
		if p == "" {
			return "", nil
		}
		looked = append(looked, fmt.Sprintf("%s %s", what, p))
		st, err := os.Stat(root(p))
		if err != nil {
			return "", fmt.Errorf("compute: PJRT plugin from %s: %w", what, err)
		}
		if !st.IsDir() {
			return p, nil
		}
		if f := findIn(root(p), files); f != "" {
			return strings.TrimPrefix(f, s.Root), nil
		}
		return "", fmt.Errorf("compute: PJRT plugin from %s: no %s in the directory %s", what, strings.Join(files, " or "), p)
	}
	if p, err := explicit("--pjrt-plugin", s.Flag); p != "" || err != nil {
		return p, err
	}
	if p, err := explicit("$"+PluginEnvVar, getenv(PluginEnvVar)); p != "" || err != nil {
		return p, err
	}
	var dirs []string
	for d := range strings.SplitSeq(getenv(pjrtPathsEnv), ":") {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	home := getenv("HOME")
	dirs = append(dirs, "/usr/local/lib/go-xla")
	if home != "" {
		dirs = append(dirs, filepath.Join(home, ".local/lib/go-xla"))
	}
	for _, d := range dirs {
		looked = append(looked, filepath.Join(d, strings.Join(files, "|")))
		if f := findIn(root(d), files); f != "" {
			return strings.TrimPrefix(f, s.Root), nil
		}
	}
	if len(site) > 0 {
		var prefixes []string
		for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
			if p := getenv(v); p != "" {
				prefixes = append(prefixes, p)
			}
		}
		if home != "" {
			prefixes = append(prefixes, filepath.Join(home, ".local"))
		}
		prefixes = append(prefixes, "/usr/local", "/usr", "/opt/conda")
		for _, pre := range prefixes {
			for _, lib := range []string{"lib/python3*/site-packages", "lib/python3*/dist-packages", "lib/python3/dist-packages"} {
				for _, g := range site {
					pattern := filepath.Join(pre, lib, g)
					looked = append(looked, pattern)
					matches, _ := filepath.Glob(root(pattern))
					slices.Sort(matches)
					for _, m := range matches {
						if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
							return strings.TrimPrefix(m, s.Root), nil
						}
					}
				}
			}
		}
	}
	return "", &PluginNotFoundError{Device: device, Looked: looked}
}

// findIn returns the first of names present as a regular file in dir.
func findIn(dir string, names []string) string {
	for _, n := range names {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// PluginNotFoundError says that no PJRT plugin was found, and where FindPlugin looked.
type PluginNotFoundError struct {
	Device string
	Looked []string
}

func (e *PluginNotFoundError) Error() string {
	return fmt.Sprintf("no PJRT plugin for %q found (cortexcast never downloads one); looked in:\n  %s\n"+
		"install one (e.g. `pip install jax[cuda12]` brings jax_plugins/xla_cuda12/xla_cuda_plugin.so) and give its path with "+
		"--pjrt-plugin or $%s", e.Device, strings.Join(e.Looked, "\n  "), PluginEnvVar)
}

// ErrPluginNotFound matches a *PluginNotFoundError with errors.Is.
var ErrPluginNotFound = errors.New("compute: no PJRT plugin found")

// Is makes errors.Is(err, ErrPluginNotFound) true.
func (e *PluginNotFoundError) Is(target error) bool { return target == ErrPluginNotFound }
