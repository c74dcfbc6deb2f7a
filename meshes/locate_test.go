package meshes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mkdirs(t *testing.T, root string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindFsaverageDir(t *testing.T) {
	root := t.TempDir()
	// A layout like /work: checkout main/ beside shared/data/fsaverage5,
	// a flag dir, an env dir, a cache dir and a directory with nothing.
	mkdirs(t, root,
		"work/main/meshes", "work/main/bin", "work/shared/data/fsaverage5",
		"flag/fsaverage5", "env/fsaverage5", "cache/cortexcast/meshes/fsaverage5",
		"empty/a/b/c/d/e/f", "empty/bin")
	p := func(s string) string { return filepath.Join(root, s) }
	cases := []struct {
		name                       string
		flag, env, cwd, exe, cache string
		want, wantErr              string
	}{
		{name: "flag wins", flag: p("flag"), env: p("env"), cwd: p("work/main"), want: p("flag")},
		{name: "flag may name fsaverage5 itself", flag: p("flag/fsaverage5"), want: p("flag")},
		{name: "bad flag is an error", flag: p("empty"), cwd: p("work/main"), wantErr: "has no fsaverage5/"},
		{name: "env next", env: p("env"), cwd: p("work/main"), want: p("env")},
		{name: "bad env is an error", env: p("empty"), cwd: p("work/main"), wantErr: "CORTEXCAST_MESHES"},
		{name: "cwd ../shared/data", cwd: p("work/main"), cache: p("cache"), want: p("work/shared/data")},
		{name: "cwd walks up", cwd: p("work/main/meshes"), cache: p("cache"), want: p("work/shared/data")},
		{name: "executable's parents", cwd: p("empty"), exe: p("work/main/bin/cortexcast"), cache: p("cache"), want: p("work/shared/data")},
		{name: "user cache", cwd: p("empty"), exe: p("empty/bin/x"), cache: p("cache"), want: p("cache/cortexcast/meshes")},
		{name: "too deep to walk", cwd: p("empty/a/b/c/d/e/f"), wantErr: "no fsaverage5 meshes found"},
		{name: "nothing", cwd: p("empty"), exe: p("empty/bin/x"), cache: p("empty"), wantErr: "nilearn/datasets/data/fsaverage5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := findFsaverageDir(c.flag, c.env, c.cwd, c.exe, c.cache)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestFindFsaverageDirErrorListsPlaces(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, "x/y", "bin")
	_, err := findFsaverageDir("", "", filepath.Join(root, "x/y"), filepath.Join(root, "bin/exe"), filepath.Join(root, "cache"))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		filepath.Join(root, "x", "shared", "data"),
		filepath.Join(root, "x", "y", "shared", "data"),
		filepath.Join(root, "bin", "shared", "data"),
		filepath.Join(root, "cache", "cortexcast", "meshes"),
		"infl_left.gii.gz", "sulc_right.gii.gz", "subjects/fsaverage5",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error message lacks %q:\n%s", want, msg)
		}
	}
}
