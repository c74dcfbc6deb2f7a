package compute

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// touch creates the file root/rel (and its directories).
func touch(t *testing.T, root, rel string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("not really a plugin"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFindPlugin builds fake directory trees and checks the order of the search: flag, then
// $CORTEXCAST_PJRT_PLUGIN, then $PJRT_PLUGIN_LIBRARY_PATH, go-xla's directories, then Python
// site-packages. (Whether a found plugin runs needs a GPU, which the tests do not have.)
func TestFindPlugin(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	const jax = "/home/u/venv/lib/python3.12/site-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so"
	tests := []struct {
		name, flag string
		files      []string
		env        []string
		want       string
	}{
		{"python venv", "", []string{jax}, []string{"HOME", "/home/u", "VIRTUAL_ENV", "/home/u/venv"}, jax},
		{"user site", "", []string{"/home/u/.local/lib/python3.11/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"},
			[]string{"HOME", "/home/u"}, "/home/u/.local/lib/python3.11/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"},
		{"system dist-packages", "", []string{"/usr/lib/python3/dist-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so"},
			nil, "/usr/lib/python3/dist-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so"},
		{"go-xla dir before python", "", []string{jax, "/usr/local/lib/go-xla/pjrt_c_api_cuda_plugin.so"},
			[]string{"VIRTUAL_ENV", "/home/u/venv"}, "/usr/local/lib/go-xla/pjrt_c_api_cuda_plugin.so"},
		{"PJRT_PLUGIN_LIBRARY_PATH first", "", []string{"/usr/local/lib/go-xla/pjrt_c_api_cuda_plugin.so", "/opt/b/pjrt_c_api_cuda_plugin.so"},
			[]string{"PJRT_PLUGIN_LIBRARY_PATH", "/opt/a:/opt/b"}, "/opt/b/pjrt_c_api_cuda_plugin.so"},
		{"env var file", "", []string{"/opt/x/custom.so", "/usr/local/lib/go-xla/pjrt_c_api_cuda_plugin.so"},
			[]string{PluginEnvVar, "/opt/x/custom.so"}, "/opt/x/custom.so"},
		{"flag directory beats env", "/opt/f", []string{"/opt/f/pjrt_c_api_cuda_plugin.so", "/opt/x/custom.so"},
			[]string{PluginEnvVar, "/opt/x/custom.so"}, "/opt/f/pjrt_c_api_cuda_plugin.so"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range tc.files {
				touch(t, root, f)
			}
			got, err := FindPlugin("cuda", PluginSearch{Flag: tc.flag, Getenv: env(tc.env...), Root: root})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("found %q, want %q", got, tc.want)
			}
		})
	}

	// Nothing installed: the error names every place searched.
	root := t.TempDir()
	_, err := FindPlugin("cuda", PluginSearch{Getenv: env("HOME", "/home/u", "PJRT_PLUGIN_LIBRARY_PATH", "/opt/p"), Root: root})
	if !errors.Is(err, ErrPluginNotFound) {
		t.Fatalf("err %v, want ErrPluginNotFound", err)
	}
	for _, place := range []string{"/opt/p/pjrt_c_api_cuda_plugin.so", "/usr/local/lib/go-xla", "/home/u/.local/lib/go-xla",
		"/home/u/.local/lib/python3*/site-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so", "/usr/lib/python3/dist-packages", "never downloads"} {
		if !strings.Contains(err.Error(), place) {
			t.Errorf("the error does not name %s:\n%v", place, err)
		}
	}
	// A flag naming nothing is an error, not a fall-through to other places.
	touch(t, root, "/usr/local/lib/go-xla/pjrt_c_api_cuda_plugin.so")
	if _, err := FindPlugin("cuda", PluginSearch{Flag: "/nope.so", Root: root}); err == nil || !strings.Contains(err.Error(), "--pjrt-plugin") {
		t.Errorf("missing flag file: err %v", err)
	}
	if _, err := FindPlugin("cuda", PluginSearch{Flag: "/usr", Root: root}); err == nil || !strings.Contains(err.Error(), "no pjrt_c_api_cuda_plugin.so") {
		t.Errorf("flag directory without a plugin: err %v", err)
	}
}

func TestOpenXLAWithoutBuildTag(t *testing.T) {
	if _, err := OpenWithPlugin("xla:cuda", "/nope.so", nil); err == nil {
		t.Fatal("xla:cuda opened in a binary without XLA support")
	}
}
