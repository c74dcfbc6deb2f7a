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

// FindFsaverageDir returns a directory that contains an fsaverage5/
// subdirectory of GIfTI meshes (and possibly fsaverage/). It searches, in
// order:
//
//  1. flagDir, when not empty (an explicit choice: if it lacks fsaverage5/
//     the search stops with an error; a path to the fsaverage5 directory
//     itself is accepted too);
//  2. the directory named by $CORTEXCAST_MESHES, likewise explicit;
//  3. ../shared/data relative to the working directory, and shared/data in
//     the working directory and its parents up to 4 levels;
//  4. shared/data in the executable's directory and its parents up to 4
//     levels (a shared/ directory beside a checkout);
//  5. cortexcast/meshes in the user cache directory.
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
	return findFsaverageDir(flagDir, os.Getenv(EnvMeshes), cwd, exe, cache)
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

func findFsaverageDir(flagDir, envDir, cwd, exe, cache string) (string, error) {
	if flagDir != "" {
		return explicitDir(flagDir, "mesh directory")
	}
	if envDir != "" {
		return explicitDir(envDir, "$"+EnvMeshes)
	}
	var searched []string
	seen := map[string]bool{}
	try := func(dir string) bool {
		dir = filepath.Clean(dir)
		if seen[dir] {
			return false
		}
		seen[dir] = true
		searched = append(searched, dir)
		return hasFsaverage5(dir)
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
	if cwd != "" {
		if c := filepath.Join(cwd, "..", "shared", "data"); try(c) {
			return filepath.Clean(c), nil
		}
		if c := walk(cwd); c != "" {
			return c, nil
		}
	}
	if exe != "" {
		if c := walk(filepath.Dir(exe)); c != "" {
			return c, nil
		}
	}
	if cache != "" {
		if c := filepath.Join(cache, "cortexcast", "meshes"); try(c) {
			return filepath.Clean(c), nil
		}
	}
	var b strings.Builder
	b.WriteString("meshes: no fsaverage5 meshes found. Searched for an fsaverage5/ subdirectory in:\n")
	fmt.Fprintf(&b, "  - the directory given by flag or $%s (not set)\n", EnvMeshes)
	for _, s := range searched {
		fmt.Fprintf(&b, "  - %s\n", s)
	}
	b.WriteString(howToGet)
	return "", fmt.Errorf("%s", b.String())
}

const howToGet = `Put the files in <dir>/fsaverage5/ and pass <dir> by flag or $CORTEXCAST_MESHES, or use
<user cache dir>/cortexcast/meshes/fsaverage5/. Needed files (GIfTI, gzip-compressed):
  infl_left.gii.gz infl_right.gii.gz pial_left.gii.gz pial_right.gii.gz sulc_left.gii.gz sulc_right.gii.gz
Get them from the nilearn repository (https://github.com/nilearn/nilearn), directory
nilearn/datasets/data/fsaverage5/, or convert them from a FreeSurfer installation's
$FREESURFER_HOME/subjects/fsaverage5/surf (mris_convert lh.inflated infl_left.gii, then gzip).`
