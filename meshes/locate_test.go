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

// touch creates empty files (and their directories) under root.
func touch(t *testing.T, root string, files ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// hermeticRoot is a directory nested deeper than the search walks up, so
// that a shared/data in an ancestor of the temporary directory (say
// /tmp/shared beside a checkout in /tmp) cannot answer a test's search.
func hermeticRoot(t *testing.T) string {
	root := filepath.Join(t.TempDir(), "h1", "h2", "h3", "h4", "h5", "h6")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestFindFsaverageDir(t *testing.T) {
	root := hermeticRoot(t)
	// A layout like /work: checkout main/ beside shared/data/fsaverage5,
	// a flag dir, an env dir, a cache dir, FreeSurfer and nilearn
	// directories, decoys without the files, and a directory with nothing.
	mkdirs(t, root,
		"work/main/meshes", "work/main/bin",
		"flag/fsaverage5", "env/fsaverage5",
		"decoy/fsaverage5/surf", "home/nilearn_data/fsaverage5",
		"empty/a/b/c/d/e/f", "empty/bin")
	touch(t, root,
		"work/shared/data/fsaverage5/infl_left.gii.gz",
		"cache/cortexcast/meshes/fsaverage5/infl_left.gii.gz",
		"fs/subjects/fsaverage5/surf/lh.inflated",
		"fshome/subjects/fsaverage5/surf/lh.inflated",
		"nl1/fsaverage5/pial_inflated.left.gii.gz",
		"nlhome/nilearn_data/fsaverage5/infl_left.gii")
	p := func(s string) string { return filepath.Join(root, s) }
	cases := []struct {
		name                       string
		flag, env, cwd, exe, cache string
		subjects, fsHome, nilearn  string
		home                       string
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
		{name: "env before FreeSurfer", env: p("env"), subjects: p("fs/subjects"), want: p("env")},
		{name: "SUBJECTS_DIR", subjects: p("fs/subjects"), fsHome: p("fshome"), nilearn: p("nl1"), cwd: p("work/main"), want: p("fs/subjects")},
		{name: "FREESURFER_HOME/subjects", subjects: p("decoy"), fsHome: p("fshome"), cwd: p("work/main"), want: p("fshome/subjects")},
		{name: "NILEARN_DATA list", nilearn: p("empty") + string(filepath.ListSeparator) + p("nl1"), cwd: p("work/main"), want: p("nl1")},
		{name: "~/nilearn_data", home: p("nlhome"), cwd: p("work/main"), want: p("nlhome/nilearn_data")},
		{name: "empty nilearn dir is skipped", home: p("home"), cwd: p("work/main"), want: p("work/shared/data")},
		{name: "FreeSurfer without files is skipped", subjects: p("decoy"), cwd: p("empty"), cache: p("cache"), want: p("cache/cortexcast/meshes")},
		{name: "too deep to walk", cwd: p("empty/a/b/c/d/e/f"), wantErr: "no fsaverage5 meshes found"},
		{name: "nothing", cwd: p("empty"), exe: p("empty/bin/x"), cache: p("empty"), wantErr: "nilearn/datasets/data/fsaverage5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := findFsaverageDir(searchEnv{flag: c.flag, env: c.env, subjectsDir: c.subjects, fsHome: c.fsHome,
				nilearnData: c.nilearn, home: c.home, cwd: c.cwd, exe: c.exe, cache: c.cache})
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
	root := hermeticRoot(t)
	mkdirs(t, root, "x/y", "bin")
	_, err := findFsaverageDir(searchEnv{cwd: filepath.Join(root, "x/y"), exe: filepath.Join(root, "bin/exe"),
		cache: filepath.Join(root, "cache"), home: filepath.Join(root, "home"), subjectsDir: filepath.Join(root, "subjects")})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		filepath.Join(root, "x", "shared", "data"),
		filepath.Join(root, "x", "y", "shared", "data"),
		filepath.Join(root, "bin", "shared", "data"),
		filepath.Join(root, "cache", "cortexcast", "meshes"),
		filepath.Join(root, "subjects"), filepath.Join(root, "home", "nilearn_data"), "$NILEARN_DATA (not set)",
		"infl_left.gii.gz", "sulc_right.gii.gz", "make meshes", "SUBJECTS_DIR",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error message lacks %q:\n%s", want, msg)
		}
	}
}
