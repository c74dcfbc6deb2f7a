package meshes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvMeshes names the environment variable that points at a directory
// containing fsaverage5/ (and possibly fsaverage/).
const EnvMeshes = "CORTEXCAST_MESHES"

// maxWalkUp is how many parent directories are searched for shared/data.
const maxWalkUp = 4

// searchEnv is what the search depends on besides the file system.
type searchEnv struct {
	flag, env           string // explicit choices
	subjectsDir, fsHome string // $SUBJECTS_DIR, $FREESURFER_HOME
	nilearnData, home   string // $NILEARN_DATA (a path list), the home directory
	cwd, exe, cache     string // working directory, executable, user cache
}

// FindFsaverageDir returns a sources directory that holds fsaverage5 (and
// possibly fsaverage6 and fsaverage) in a layout BuildBundle reads. It
// searches, in order:
//
//  1. flagDir, when not empty (an explicit choice: if it lacks fsaverage5/
//     the search stops with an error; a path to the fsaverage5 directory
//     itself is accepted too);
//  2. the directory named by $CORTEXCAST_MESHES, likewise explicit;
//  3. a FreeSurfer subjects directory, $SUBJECTS_DIR then
//     $FREESURFER_HOME/subjects, holding fsaverage5/surf/lh.inflated;
//  4. nilearn's data directory, each entry of $NILEARN_DATA then
//     ~/nilearn_data, holding fsaverage5/infl_left.gii.gz (nilearn's layout);
//  5. ../shared/data relative to the working directory, and shared/data in
//     the working directory and its parents up to 4 levels;
//  6. shared/data in the executable's directory and its parents up to 4
//     levels (a shared/ directory beside a checkout);
//  7. cortexcast/meshes in the user cache directory (where
//     `cortexcast meshes fetch` puts the files).
//
// When none is found the error lists the places searched and how to get
// the files.
func FindFsaverageDir(flagDir string) (string, error) {
	cwd, _ := os.Getwd()
	exe, err := os.Executable()
	if err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
	}
	cache, _ := os.UserCacheDir()
	home, _ := os.UserHomeDir()
	return findFsaverageDir(searchEnv{
		flag: flagDir, env: os.Getenv(EnvMeshes),
		subjectsDir: os.Getenv("SUBJECTS_DIR"), fsHome: os.Getenv("FREESURFER_HOME"),
		nilearnData: os.Getenv("NILEARN_DATA"), home: home,
		cwd: cwd, exe: exe, cache: cache,
	})
}

// MeshCacheDir returns <user cache>/cortexcast/meshes, where `cortexcast
// meshes fetch` puts the fsaverage5 files (under fsaverage5/).
func MeshCacheDir() (string, error) {
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("meshes: user cache directory: %w", err)
	}
	return filepath.Join(c, "cortexcast", "meshes"), nil
}

// BundleCacheDir returns <user cache>/cortexcast/bundles, the default
// output of `cortexcast meshes build`.
func BundleCacheDir() (string, error) {
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("meshes: user cache directory: %w", err)
	}
	return filepath.Join(c, "cortexcast", "bundles"), nil
}

func hasFsaverage5(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "fsaverage5"))
	return err == nil && st.IsDir()
}

// explicitDir resolves a directory the user named: either the directory
// containing fsaverage5/ or fsaverage5/ itself.
func explicitDir(dir, what string) (string, error) {
	if hasFsaverage5(dir) {
		return dir, nil
	}
	if filepath.Base(filepath.Clean(dir)) == "fsaverage5" {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return filepath.Dir(filepath.Clean(dir)), nil
		}
	}
	return "", fmt.Errorf("meshes: %s %q has no fsaverage5/ subdirectory.\n%s", what, dir, howToGet)
}

func findFsaverageDir(se searchEnv) (string, error) {
	if se.flag != "" {
		return explicitDir(se.flag, "mesh directory")
	}
	if se.env != "" {
		return explicitDir(se.env, "$"+EnvMeshes)
	}
	var searched []string
	seen := map[string]bool{}
	// try accepts dir when it holds fsaverage5's inflated surfaces in a
	// layout BuildBundle reads.
	try := func(dir string) bool {
		dir = filepath.Clean(dir)
		if seen[dir] {
			return false
		}
		seen[dir] = true
		searched = append(searched, dir)
		return HasResolution(dir, "fsaverage5")
	}
	var fsDirs []string
	if se.subjectsDir != "" {
		fsDirs = append(fsDirs, se.subjectsDir)
	}
	if se.fsHome != "" {
		fsDirs = append(fsDirs, filepath.Join(se.fsHome, "subjects"))
	}
	for _, d := range fsDirs {
		if try(d) {
			return filepath.Clean(d), nil
		}
	}
	var nlDirs []string
	for _, d := range filepath.SplitList(se.nilearnData) {
		if d != "" {
			nlDirs = append(nlDirs, d)
		}
	}
	if se.home != "" {
		nlDirs = append(nlDirs, filepath.Join(se.home, "nilearn_data"))
	}
	for _, d := range nlDirs {
		if try(d) {
			return filepath.Clean(d), nil
		}
	}
	walk := func(start string) string {
		d := filepath.Clean(start)
		for range maxWalkUp + 1 {
			if c := filepath.Join(d, "shared", "data"); try(c) {
				return c
			}
			p := filepath.Dir(d)
			if p == d {
				break
			}
			d = p
		}
		return ""
	}
	if se.cwd != "" {
		if c := filepath.Join(se.cwd, "..", "shared", "data"); try(c) {
			return filepath.Clean(c), nil
		}
		if c := walk(se.cwd); c != "" {
			return c, nil
		}
	}
	if se.exe != "" {
		if c := walk(filepath.Dir(se.exe)); c != "" {
			return c, nil
		}
	}
	if se.cache != "" {
		if c := filepath.Join(se.cache, "cortexcast", "meshes"); try(c) {
			return filepath.Clean(c), nil
		}
	}
	var b strings.Builder
	b.WriteString("meshes: no fsaverage5 meshes found. Searched for fsaverage5/ (GIfTI: infl_left.gii.gz …, or FreeSurfer: surf/lh.inflated …) in:\n")
	fmt.Fprintf(&b, "  - the directory given by flag or $%s (not set)\n", EnvMeshes)
	if len(fsDirs) == 0 {
		b.WriteString("  - $SUBJECTS_DIR and $FREESURFER_HOME/subjects (not set)\n")
	}
	if se.nilearnData == "" {
		b.WriteString("  - $NILEARN_DATA (not set)\n")
	}
	for _, s := range searched {
		fmt.Fprintf(&b, "  - %s\n", s)
	}
	b.WriteString(howToGet)
	return "", fmt.Errorf("%s", b.String())
}

const howToGet = `To get them: run ` + "`make meshes`" + ` (cortexcast meshes fetch), which downloads nilearn's fsaverage5 files
into <user cache dir>/cortexcast/meshes/fsaverage5/; or put the files in <dir>/fsaverage5/ yourself and pass <dir>
by flag or $CORTEXCAST_MESHES. Needed files (GIfTI, gzip-compressed; white, sphere, flat, curv optional):
  infl_left.gii.gz infl_right.gii.gz pial_left.gii.gz pial_right.gii.gz sulc_left.gii.gz sulc_right.gii.gz
They are in the nilearn repository (https://github.com/nilearn/nilearn), directory nilearn/datasets/data/fsaverage5/.
A FreeSurfer installation works as is: set $SUBJECTS_DIR (or $FREESURFER_HOME) so that
fsaverage5/surf/lh.inflated, lh.pial, lh.sulc … are found there.`
